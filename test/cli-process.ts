// The real `fastify-rtc-signal` command in a child process.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Tap } from './helpers'

const ROOT = path.join(__dirname, '..')
const SOURCE = path.join(ROOT, 'lib', 'cli', 'index.ts')
const BUILT = path.join(ROOT, 'dist', 'cli', 'index.js')
/** A run that has not ended by then is killed, and so fails the caller's exit-code check. */
const RUN_GUARD_MS = 90_000

/** The environment without any variable the CLI reads, so the developer's shell cannot change a test. */
function cleanEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RTC_') && !['PORT', 'HOST', 'LOG_LEVEL', 'REDIS_URL', 'STUN_URL', 'TURN_URL', 'TURN_SECRET', 'TURN_SECRET_FILE', 'TURN_TTL'].includes(k)) env[k] = v
  }
  return env
}

/**
 * The built command (what npm installs as the bin) when it is newer than every file under lib/,
 * as after `npm run build` (npm test builds first); otherwise the source through tsx, which
 * starts several times slower.
 */
function command (): string[] {
  try {
    const built = statSync(BUILT).mtimeMs
    const lib = path.join(ROOT, 'lib')
    const stale = readdirSync(lib, { recursive: true }).some((f) => statSync(path.join(lib, String(f))).mtimeMs > built)
    if (!stale) return [BUILT]
  } catch {}
  return ['--import', 'tsx', SOURCE]
}

const COMMAND = command()

function spawnCli (args: string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [...COMMAND, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
}

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the CLI to its end. */
export async function run (args: string[]): Promise<Run> {
  const child = spawnCli(args)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const guard = setTimeout(() => child.kill('SIGKILL'), RUN_GUARD_MS)
  const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
  clearTimeout(guard)
  return { code, signal, stdout, stderr }
}

export type LogEntry = Record<string, any>

/**
 * Starts the server (at log level info at least) and resolves with its signalling URL once it
 * logs it; `log(match)` awaits a log line. Killed at teardown if still running.
 */
export async function start (t: Tap, args: string[]) {
  const child = spawnCli(args)
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const logs: LogEntry[] = []
  const lines = createInterface({ input: child.stdout })
  lines.on('line', (line) => { logs.push(JSON.parse(line) as LogEntry) })
  const log = async (match: (entry: LogEntry) => boolean): Promise<LogEntry> => {
    const found = logs.find(match)
    if (found !== undefined) return found
    return await new Promise((resolve, reject) => {
      const onLine = (): void => {
        const entry = logs[logs.length - 1]
        if (match(entry)) { lines.off('line', onLine); resolve(entry) }
      }
      lines.on('line', onLine)
      exited.then(([code]) => reject(new Error(`the CLI exited (${String(code)}): ${stderr}`)), reject)
    })
  }
  const url = (await log((entry) => typeof entry.signalling === 'string')).signalling as string
  return { child, url, exited, log, logs }
}
