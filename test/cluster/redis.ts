// A throwaway redis-server for the cluster tests: its own free loopback port, no persistence.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { createInterface } from 'node:readline'

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server'
const START_TIMEOUT_MS = 10_000

/** Why the cluster tests cannot run here, or null when redis-server is installed. */
export function redisMissing (): string | null {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    return `redis-server not found (${probe.error?.message ?? `exit ${String(probe.status)}`}): install the Debian package redis-server to run the cluster tests`
  }
  return null
}

/** Says loudly that the cluster tests were skipped (a skipped cluster suite must not look like a pass). */

/** A free loopback port: bind port 0, read it, close (`--port 0` would disable TCP in redis-server). */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  server.close()
  await once(server, 'close')
  return port
}

export class RedisServer {
  private child: ChildProcess | null = null
  readonly port: number

  /** `args`: more redis-server options (a cluster node's). */
  constructor (port: number, private readonly args: string[] = []) {
    this.port = port
  }

  static async start (): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.restart()
    return server
  }

  /** Its process id while it runs (to read its CPU time). */
  get pid (): number | undefined {
    return this.running ? this.child?.pid : undefined
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get running (): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts (again) on the same port, with an empty data set; resolves when it says it accepts connections. */
  async restart (): Promise<void> {
    if (this.running) return
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice', ...this.args], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    this.child = child
    // Never left behind when this test process ends early (a tap timeout skips the teardown).
    const kill = (): void => { child.kill('SIGKILL') }
    process.once('exit', kill)
    child.once('exit', () => process.removeListener('exit', kill))
    // Its log goes to stdout: read it all (a full pipe would stall the server), and await the line.
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const exited = once(child, 'exit').then(() => { throw new Error(`redis-server exited at start (port ${this.port})`) })
    exited.catch(() => {}) // it exits later too, when stopped
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        new Promise<void>((resolve) => lines.on('line', (line) => { if (/ready to accept connections/i.test(line)) resolve() })),
        exited,
        new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error(`redis-server not ready on ${this.port} within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS) })
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops it: SIGKILL by default (an outage), SIGTERM for a clean stop. */
  async stop (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (child === null || !this.running) return
    const exited = once(child, 'exit')
    child.kill(signal)
    await exited
    this.child = null
  }
}
