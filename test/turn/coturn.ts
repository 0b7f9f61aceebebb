// A throwaway coturn for the TURN tests: loopback only, its own free ports, TURN REST secrets
// (`use-auth-secret`), a fresh temp directory for its config, log, pid file and user database.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync, watch } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import dgram from 'node:dgram'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const TURNSERVER = process.env.TURNSERVER ?? 'turnserver'
export const UCLIENT = process.env.TURNUTILS_UCLIENT ?? 'turnutils_uclient'
const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000
/** Relay ports per server: a few allocations per test. */
const RELAY_PORTS = 32
/** Relay ranges are picked below Linux's ephemeral range (32768-60999), where port-0 sockets never land. */
const RELAY_LOW = 20_000
const RELAY_HIGH = 32_000

/** Why the TURN tests cannot run here, or null when coturn (turnserver and turnutils_uclient) is installed. */
export function coturnMissing (): string | null {
  for (const [bin, args] of [[TURNSERVER, ['--version']], [UCLIENT, []]] as const) {
    const probe = spawnSync(bin, args, { encoding: 'utf8' })
    if (probe.error !== undefined) {
      return `${bin} not found (${probe.error.message}): install the Debian package coturn to run the TURN tests`
    }
  }
  return null
}

/** Says loudly that the TURN tests were skipped (a skipped suite must not look like a pass). */

async function bindable (port: number, tcp: boolean): Promise<boolean> {
  const udp = dgram.createSocket('udp4')
  const udpOk = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false))
    udp.bind(port, '127.0.0.1', () => resolve(true))
  })
  if (udpOk) udp.close()
  if (!udpOk || !tcp) return udpOk
  const server = net.createServer()
  const tcpOk = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => resolve(true))
  })
  if (tcpOk) await new Promise((resolve) => server.close(resolve))
  return tcpOk
}

/** A loopback port free for both UDP and TCP (coturn listens on both): bind UDP port 0, then check TCP. */
async function freeListeningPort (): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const socket = dgram.createSocket('udp4')
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    const { port } = socket.address()
    socket.close()
    if (await bindable(port, true)) return port
  }
  throw new Error('no loopback port free for both UDP and TCP')
}

/** A block of RELAY_PORTS consecutive UDP ports that are free right now. */
async function freeRelayRange (): Promise<[number, number]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const min = randomInt(RELAY_LOW, RELAY_HIGH - RELAY_PORTS)
    let free = true
    for (let port = min; free && port < min + RELAY_PORTS; port++) free = await bindable(port, false)
    if (free) return [min, min + RELAY_PORTS - 1]
  }
  throw new Error(`no ${RELAY_PORTS} consecutive free UDP ports between ${RELAY_LOW} and ${RELAY_HIGH}`)
}

export interface CoturnOptions {
  /** One shared secret, or several (coturn accepts a credential signed by any of them). */
  secret?: string
  secrets?: string[]
  realm?: string
  /** Listen on this port (e.g. a restart in place of a stopped coturn); a free one by default. */
  port?: number
}

export interface Coturn {
  /** `turn:127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  readonly logFile: string
  /** The log so far. */
  log: () => string
  /** Resolves with the log once `pattern` appears in it (awaits writes to the file, no polling). */
  waitForLog: (pattern: RegExp, timeoutMs?: number) => Promise<string>
  /** Stops it (SIGTERM, SIGKILL if it lingers), awaits its exit and removes its files. Idempotent. */
  stop: () => Promise<void>
}

function exited (child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

export async function startCoturn (opts: CoturnOptions): Promise<Coturn> {
  const secrets = opts.secrets ?? (opts.secret === undefined ? [] : [opts.secret])
  if (secrets.length === 0) throw new Error('startCoturn: give secret or secrets')
  const dir = await mkdtemp(join(tmpdir(), 'rtc-signal-coturn-'))
  const logFile = join(dir, 'turnserver.log')
  // An empty config file: without -c, coturn reads /etc/turnserver.conf, whose Debian default
  // says `syslog` (then --log-file is ignored and nothing reaches our log).
  const config = join(dir, 'turnserver.conf')
  await writeFile(config, '')
  const port = opts.port ?? await freeListeningPort()
  const [minPort, maxPort] = await freeRelayRange()
  const args = [
    '-c', config,
    `--userdb=${join(dir, 'turndb.sqlite')}`, // not the shared /var/lib/turn/turndb
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    `--min-port=${minPort}`, `--max-port=${maxPort}`,
    '--allow-loopback-peers',
    '--use-auth-secret', ...secrets.map((s) => `--static-auth-secret=${s}`),
    `--realm=${opts.realm ?? 'rtc-signal.test'}`,
    '--no-tls', '--no-dtls', '--no-cli',
    `--log-file=${logFile}`, '--simple-log', '--no-stdout-log', `--pidfile=${join(dir, 'turnserver.pid')}`,
    '-v' // logs "UDP listener opened" (readiness) and one line per request with its outcome
  ]
  const child = spawn(TURNSERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })

  const log = (): string => {
    try {
      return readFileSync(logFile, 'utf8')
    } catch {
      return ''
    }
  }

  const waitForLog = async (pattern: RegExp, timeoutMs = START_TIMEOUT_MS): Promise<string> => {
    const first = log()
    if (pattern.test(first)) return first
    const watcher = watch(dir)
    try {
      return await new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const text = log()
          if (pattern.test(text)) resolve(text)
        }
        const onExit = (): void => reject(new Error(`turnserver exited (${String(child.exitCode ?? child.signalCode)}) before logging ${String(pattern)}\n${stderr}${log().slice(-2000)}`))
        const timer = setTimeout(() => reject(new Error(`turnserver did not log ${String(pattern)} within ${timeoutMs} ms\n${log().slice(-2000)}`)), timeoutMs)
        timer.unref()
        watcher.on('change', check)
        watcher.on('error', reject)
        if (exited(child)) onExit()
        else child.once('exit', onExit)
        check() // written between the first read and the watch
        const cleanup = (): void => { clearTimeout(timer); child.off('exit', onExit) }
        watcher.once('close', cleanup)
      })
    } finally {
      watcher.close()
    }
  }

  let stopping: Promise<void> | null = null
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited(child)) {
        const gone = once(child, 'exit')
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
        timer.unref()
        await gone
        clearTimeout(timer)
      }
      await rm(dir, { recursive: true, force: true })
    })()
    return await stopping
  }

  try {
    await once(child, 'spawn')
    const listening = new RegExp(`UDP listener opened on: 127\\.0\\.0\\.1:${port}\\b`)
    // The user database connection is the last line of a start (auth threads up).
    await waitForLog(/SQLite DB connection success/)
    if (!listening.test(log())) await waitForLog(listening)
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `turn:127.0.0.1:${port}`, port, logFile, log, waitForLog, stop }
}

export interface UclientResult {
  /** Exit code: 0 when the allocations and the relayed messages went through. */
  code: number | null
  /** stdout and stderr together. */
  output: string
}

/**
 * turnutils_uclient against `coturn`: two clients (-y) each allocate a relay, bind channels to each
 * other (-e 127.0.0.1, loopback peers) and exchange one message (-n 1), no RTCP allocation (-c).
 */
export async function uclient (coturn: Coturn, username: string, credential: string, timeoutMs = 60_000): Promise<UclientResult> {
  const args = ['-v', '-y', '-c', '-e', '127.0.0.1', '-n', '1', '-p', String(coturn.port), '-u', username, '-w', credential, '127.0.0.1']
  const child = spawn(UCLIENT, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  timer.unref()
  const [code] = await once(child, 'close') as [number | null]
  clearTimeout(timer)
  return { code, output }
}
