// A throwaway redis-server for the cluster tests: its own free loopback port, no persistence.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'

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
export function announceSkip (why: string): void {
  process.stderr.write(`\n!!!!!!!!!!\n!!! CLUSTER TESTS SKIPPED: ${why}\n!!!!!!!!!!\n\n`)
}

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

async function reachable (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      // A real Redis answers PING; something else on the port would not.
      socket.write('PING\r\n')
      socket.once('data', (d) => { socket.destroy(); resolve(d.toString().startsWith('+PONG')) })
    })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

export class RedisServer {
  private child: ChildProcess | null = null
  readonly port: number

  private constructor (port: number) {
    this.port = port
  }

  static async start (): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.restart()
    return server
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get running (): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts (again) on the same port, with an empty data set. */
  async restart (): Promise<void> {
    if (this.running) return
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'ignore', 'inherit']
    })
    this.child = child
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!(await reachable(this.port))) {
      if (!this.running) throw new Error(`redis-server exited at start (port ${this.port})`)
      if (Date.now() > deadline) throw new Error(`redis-server not reachable on ${this.port} within ${START_TIMEOUT_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 20))
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
