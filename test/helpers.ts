import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { once } from 'node:events'
import WebSocket from 'ws'
import rtcSignal, { type RtcSignalOptions } from '../lib/index'

export interface Tap {
  teardown: (fn: () => unknown) => void
}

/** A Fastify app with the plugin registered, closed when the test ends. */
export async function build (t: Tap, opts: RtcSignalOptions = {}, server: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(server)
  t.teardown(() => app.close())
  await app.register(rtcSignal, opts)
  await app.ready()
  return app
}

/** Same as build, listening on a free loopback port; returns the ws:// base URL. */
export async function listen (t: Tap, opts: RtcSignalOptions = {}, server: FastifyServerOptions = {}): Promise<{ app: FastifyInstance, url: string }> {
  const app = await build(t, opts, server)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { app, url: `ws://127.0.0.1:${address.port}` }
}

/** Resolves with the HTTP status of a refused upgrade (the socket never opens). */
export async function refusedStatus (url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers })
  ws.on('open', () => ws.close())
  const [, res] = await once(ws, 'unexpected-response')
  ws.on('error', () => {})
  ws.terminate()
  return res.statusCode
}

export interface Message {
  type: string
  data: Record<string, any>
}

/**
 * A protocol client over a real socket: every frame received is queued, `next()` awaits the next
 * one (optionally of a type, failing on anything else in between unless `skip` says so).
 */
export class Client {
  readonly ws: WebSocket
  readonly received: Message[] = []
  private readonly queue: Message[] = []
  private waiter: ((m: Message) => void) | null = null
  closed: Promise<{ code: number, reason: string }>
  id = ''
  peers: string[] = []

  constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Message
      this.received.push(m)
      if (this.waiter !== null) {
        const w = this.waiter
        this.waiter = null
        w(m)
      } else {
        this.queue.push(m)
      }
    })
    this.closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }))
  }

  static async open (url: string, opts: WebSocket.ClientOptions = {}): Promise<Client> {
    const ws = new WebSocket(url, opts)
    const client = new Client(ws)
    await once(ws, 'open')
    return client
  }

  send (type: string, data: unknown = {}): void {
    this.ws.send(JSON.stringify({ type, data }))
  }

  sendRaw (text: string | Buffer, binary = false): void {
    this.ws.send(text, { binary })
  }

  /** The next frame; rejects after `ms` (a failing test must not hang the suite). */
  next (ms = 5000): Promise<Message> {
    const queued = this.queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null
        reject(new Error(`no frame within ${ms} ms`))
      }, ms)
      this.waiter = (m) => { clearTimeout(timer); resolve(m) }
    })
  }

  /** The next frame, which must be of `type`. */
  async expect (type: string, ms?: number): Promise<Record<string, any>> {
    const m = await this.next(ms)
    if (m.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(m)}`)
    return m.data
  }

  /** True when nothing is queued: after a round trip (`sync`), proves no frame was sent. */
  get idle (): boolean {
    return this.queue.length === 0
  }

  /**
   * Waits until everything the server sent before now has arrived: sends an unknown rtc: action
   * and awaits its error. Frames that arrive before that are returned.
   */
  async sync (): Promise<Message[]> {
    const before: Message[] = []
    this.send('rtc:sync-probe')
    for (;;) {
      const m = await this.next()
      if (m.type === 'rtc:error' && m.data.type === 'rtc:sync-probe') return before
      before.push(m)
    }
  }

  async join (pool: string): Promise<Record<string, any>> {
    this.send('rtc:join', { pool })
    const data = await this.expect('rtc:joined')
    this.id = data.client_id
    this.peers = data.peers
    return data
  }

  close (): void {
    this.ws.close()
  }
}

/** Opens `n` clients and joins them to `pool` one after another; every earlier member sees each later one. */
export async function joinAll (url: string, pool: string, n: number): Promise<Client[]> {
  const clients: Client[] = []
  for (let i = 0; i < n; i++) {
    const c = await Client.open(`${url}/rtc`)
    await c.join(pool)
    for (const earlier of clients) {
      const peer = await earlier.expect('rtc:peer')
      if (peer.id !== c.id) throw new Error('rtc:peer for the wrong member')
    }
    clients.push(c)
  }
  return clients
}
