/** The `--stun` / `--turn-*` flags → the plugin's iceServers option (reads the secret file, if any). */
import { readFileSync } from 'node:fs'
import type { IceServer, TurnRestServer } from '../ice'
import { UsageError, type IceConfig } from './args'

/** The secrets of a --turn-secret-file: one per line, blank lines and surrounding spaces ignored. */
function readSecrets (path: string, readFile: (path: string) => string): string[] {
  let text: string
  try {
    text = readFile(path)
  } catch (err) {
    throw new UsageError(`--turn-secret-file: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const secrets = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '')
  if (secrets.length === 0) throw new UsageError(`--turn-secret-file: ${JSON.stringify(path)} holds no secret`)
  return secrets
}

/** The iceServers option, or undefined when no ICE flag is set (members then get no `ice`). */
export function iceServersOption (ice: IceConfig, readFile = (path: string) => readFileSync(path, 'utf8')): Array<IceServer | TurnRestServer> | undefined {
  const servers: Array<IceServer | TurnRestServer> = []
  if (ice.stun.length > 0) servers.push({ urls: ice.stun })
  if (ice.turnUrls.length > 0) {
    const secrets = ice.turnSecretFile === null ? ice.turnSecrets : readSecrets(ice.turnSecretFile, readFile)
    servers.push({ urls: ice.turnUrls, secret: secrets.length === 1 ? secrets[0] : secrets, ttl: ice.turnTtl })
  }
  return servers.length > 0 ? servers : undefined
}

/** What may be logged of them: URLs and lifetimes, never a secret. */
export function describeIceServers (servers: Array<IceServer | TurnRestServer> | undefined): unknown {
  return servers?.map((s) => ({ urls: s.urls, ...('ttl' in s ? { ttl: s.ttl } : {}) })) ?? 'none'
}
