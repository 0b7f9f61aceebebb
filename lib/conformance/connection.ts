/**
 * The conformance checks' WebSocket client. Every wait ends when the check's time is up (the
 * runner aborts the check), when the server closes the socket, or with the frame: a server that
 * crashes, hangs up or never answers makes a check fail, never the command hang.
 */
import WebSocket from 'ws'

export interface Message {
  type: string
  data: Record<string, any>
}

/** A check's verdict: it failed, for the reason in the message. */
export class CheckFailure extends Error {
  override name = 'CheckFailure'
}

/** The type of the probe frame `sync()` sends: an `rtc:` action the protocol does not have. */
export const PROBE_TYPE = 'rtc:conformance-probe'

/** Frames the server may send at any time that no check is about (rule 7's describe, the ICE extension). */
const AMBIENT = new Set(['rtc:describe', 'rtc:ice'])

/** How a frame is shown in a failure: its type and a short cut of its data. */
export function summary (m: Message): string {
  const data = JSON.stringify(m.data) ?? ''
  return `${m.type} ${data.length > 120 ? `${data.slice(0, 117)}...` : data}`
}

function parse (raw: WebSocket.RawData, isBinary: boolean): Message {
  if (isBinary) return { type: '<binary frame>', data: {} }
  const text = Array.isArray(raw) ? Buffer.concat(raw).toString() : Buffer.from(raw as ArrayBuffer).toString()
  try {
    const value = JSON.parse(text) as Partial<Message>
    if (typeof value === 'object' && value !== null && typeof value.type === 'string' && typeof value.data === 'object' && value.data !== null) {
      return value as Message
    }
  } catch {}
  return { type: '<malformed frame>', data: { text: text.slice(0, 120) } }
}

interface Waiter {
  what: string
  resolve: (m: Message) => void
  reject: (err: Error) => void
}

export class Connection {
  readonly ws: WebSocket
  /** Set once the server closed the socket (or it failed). */
  closed: { code: number, reason: string } | null = null
  private readonly queue: Message[] = []
  private waiter: Waiter | null = null
  private abortReason: string | null = null

  private constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('error', () => {}) // reported through 'close' and the open() promise
    ws.on('message', (raw, isBinary) => {
      const m = parse(raw, isBinary)
      const w = this.waiter
      if (w === null) {
        this.queue.push(m)
        return
      }
      this.waiter = null
      w.resolve(m)
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      this.fail(`the server closed the socket (code ${code}${reason.length > 0 ? `, ${reason.toString()}` : ''})`)
    })
  }

  /** Opens a socket; rejects with a CheckFailure when it cannot. `abort()` ends a pending open too. */
  static async open (url: string, track: (c: Connection) => void): Promise<Connection> {
    const conn = new Connection(new WebSocket(url))
    track(conn)
    await new Promise<void>((resolve, reject) => {
      const onOpen = (): void => { cleanup(); resolve() }
      const failed = (why: string): void => {
        cleanup()
        reject(new CheckFailure(conn.abortReason === null ? `cannot connect to ${url}: ${why}` : `${conn.abortReason} (waiting for the WebSocket handshake)`))
      }
      const onError = (err: Error): void => { failed(err.message) }
      const onClose = (): void => { failed('closed during the handshake') }
      const cleanup = (): void => {
        conn.ws.off('open', onOpen)
        conn.ws.off('error', onError)
        conn.ws.off('close', onClose)
      }
      conn.ws.on('open', onOpen)
      conn.ws.on('error', onError)
      conn.ws.on('close', onClose)
    })
    return conn
  }

  send (type: string, data: unknown = {}): void {
    this.sendRaw(JSON.stringify({ type, data }))
  }

  sendRaw (payload: string | Buffer, binary = false): void {
    if (this.ws.readyState !== WebSocket.OPEN) throw new CheckFailure(this.abortReason ?? `cannot send: the socket is ${this.closed === null ? 'not open' : `closed (code ${this.closed.code})`}`)
    this.ws.send(payload, { binary })
  }

  /** The next frame; `what` says what the check waits for, for the failure's message. */
  next (what: string): Promise<Message> {
    const queued = this.queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.abortReason !== null) return Promise.reject(new CheckFailure(`${this.abortReason} (waiting for ${what})`))
    if (this.closed !== null) return Promise.reject(new CheckFailure(`the server closed the socket (code ${this.closed.code}) (waiting for ${what})`))
    return new Promise((resolve, reject) => { this.waiter = { what, resolve, reject } })
  }

  /** The next frame other than ambient ones (rtc:describe, rtc:ice), which must be of `type`. */
  async expect (type: string, what = type): Promise<Record<string, any>> {
    for (;;) {
      const m = await this.next(what)
      if (AMBIENT.has(m.type) && type !== m.type) continue
      if (m.type !== type) throw new CheckFailure(`expected ${what}, got ${summary(m)}`)
      return m.data
    }
  }

  /** The next frame must be an `rtc:error` with `reason` and a `message` for people. */
  async expectError (reason: string, after: string): Promise<Record<string, any>> {
    const what = `rtc:error ${reason} after ${after}`
    const data = await this.expect('rtc:error', what)
    if (data.reason !== reason) throw new CheckFailure(`expected ${what}, got rtc:error ${String(data.reason)} (${String(data.message)})`)
    if (typeof data.message !== 'string' || data.message === '') throw new CheckFailure(`rtc:error ${reason} has no message string`)
    return data
  }

  /**
   * Waits until every frame the server sent before now has arrived: sends an unknown `rtc:`
   * action (unknown-action) and returns the frames received before its error, ambient ones
   * left out. Proves that a frame was NOT sent, and that the connection still answers.
   */
  async sync (): Promise<Message[]> {
    const before: Message[] = []
    this.send(PROBE_TYPE)
    for (;;) {
      const m = await this.next(`the answer to a ${PROBE_TYPE} frame (rtc:error unknown-action)`)
      // Its answer: the frame's type is context a server may leave out, so only another type rules it out.
      if (m.type === 'rtc:error' && m.data.reason === 'unknown-action' && (m.data.type === undefined || m.data.type === PROBE_TYPE)) return before
      if (!AMBIENT.has(m.type)) before.push(m)
    }
  }

  /** The check ran out of time: pending and later waits fail with `why`; the socket is dropped. */
  abort (why: string): void {
    if (this.abortReason !== null) return
    this.abortReason = why
    this.fail(why)
    this.ws.terminate()
  }

  /** A clean close (1000); dropped if the server does not answer within `graceMs`. */
  async close (graceMs: number): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()))
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000)
    else this.ws.terminate()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([closed, new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); timer.unref() })])
    clearTimeout(timer)
    this.ws.terminate()
  }

  private fail (why: string): void {
    const w = this.waiter
    if (w === null) return
    this.waiter = null
    w.reject(new CheckFailure(`${why} (waiting for ${w.what})`))
  }
}
