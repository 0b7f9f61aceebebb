// Signalling server processes for the cluster tests (test/cluster/server-process.ts), driven over IPC.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { createInterface } from 'node:readline'

const FIXTURE = path.join(__dirname, 'server-process.ts')
const START_TIMEOUT_MS = 30_000
const CALL_TIMEOUT_MS = 15_000

export interface ServerSettings {
  /** One Redis server, or (`cluster`) some nodes of a Redis Cluster. */
  url?: string
  cluster?: Array<{ host: string, port: number }>
  prefix: string
  ttl?: number
  privatePools?: boolean
}

export class ServerProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly node: string
  private seq = 0
  private readonly pending = new Map<number, (msg: any) => void>()

  private constructor (child: ChildProcess, port: number, node: string) {
    this.child = child
    this.url = `ws://127.0.0.1:${port}`
    this.node = node
    child.on('message', (msg: { id: number }) => {
      this.pending.get(msg.id)?.(msg)
      this.pending.delete(msg.id)
    })
  }

  static async start (settings: ServerSettings): Promise<ServerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(settings)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc']
    })
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    let timer: NodeJS.Timeout | undefined
    try {
      const first = await Promise.race([
        once(lines, 'line') as Promise<[string]>,
        once(child, 'exit').then(([code]) => { throw new Error(`server process exited (${String(code)}) before listening`) }),
        new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error('server process did not start')), START_TIMEOUT_MS) })
      ])
      const { port, node } = JSON.parse(first[0]) as { port: number, node: string }
      return new ServerProcess(child, port, node)
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  get alive (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Runs a PoolManager method in the process; rejects with the error's code and message. */
  async call<T = any>(cmd: string, ...args: unknown[]): Promise<T> {
    const id = ++this.seq
    let timer: NodeJS.Timeout | undefined
    const reply = await Promise.race([
      new Promise<any>((resolve) => {
        this.pending.set(id, resolve)
        this.child.send({ id, cmd, args })
      }),
      new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error(`${cmd}: no answer within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS) })
    ]).finally(() => clearTimeout(timer))
    if (reply.ok === true) return reply.result as T
    throw Object.assign(new Error(reply.error.message), { code: reply.error.code })
  }

  /** SIGKILL: no goodbye, no leave, the liveness key just stops being refreshed. */
  async kill (): Promise<void> {
    if (!this.alive) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
  }

  /** SIGSTOP: the process keeps its sockets but runs nothing until `resume()` (a stalled process). */
  pause (): void {
    if (this.alive) this.child.kill('SIGSTOP')
  }

  resume (): void {
    if (this.alive) this.child.kill('SIGCONT')
  }

  /** Clean stop (app.close()); SIGKILL if it does not exit in time. */
  async stop (): Promise<void> {
    if (!this.alive) return
    const exited = once(this.child, 'exit')
    this.call('exit').catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}
