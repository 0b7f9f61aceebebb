import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { Description, LeaveReason } from './types'
import type { Pool } from './pool'

export type { LeaveReason }

/** WebSocket close codes the server uses (RFC 6455 and ws). */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  internal: 1011
} as const

const OPEN = 1

/** Counts frames in fixed windows: cheap enough to run before a frame is parsed. */
export class RateCounter {
  private windowStart = 0
  private count = 0
  constructor (private readonly max: number, private readonly window: number, private readonly closeAt: number) {}

  /** 'ok', 'limited' (drop this frame) or 'close' (the connection keeps flooding). */
  hit (now: number): 'ok' | 'limited' | 'close' {
    if (now - this.windowStart >= this.window) {
      this.windowStart = now
      this.count = 0
    }
    this.count++
    if (this.count <= this.max) return 'ok'
    return this.count >= this.closeAt ? 'close' : 'limited'
  }
}

/**
 * One connected socket: its server-assigned id, the pool it is in, its trusted description,
 * its rate counter and heartbeat state. The PoolManager owns the protocol; an Endpoint only
 * knows how to write to and close its socket.
 */
export class Endpoint {
  /** Random UUID v4, assigned by the server (docs/protocol.md, rule 1). */
  readonly id: string = randomUUID()
  /** The pool this connection is in, or null before joining and after leaving. */
  pool: string | null = null
  /** Trusted metadata set by server code; `null` when none. */
  description: Description = null
  /** The upgrade request: headers, query, cookies, `request.log`. */
  readonly request: FastifyRequest
  /** The pool named in the route path (`{prefix}/:pool`), if any: the only pool this connection may join. */
  readonly boundPool: string | null
  /** @internal the local view of the pool joined, for routing without lookups. */
  view: Pool | null = null
  /** @internal a join is in progress (hook or adapter pending). */
  joining = false
  /** @internal answered the last ping. */
  alive = true
  /** @internal the socket is closing or closed: nothing more is written. */
  closed = false
  /** @internal */
  readonly rate: RateCounter | null
  /** @internal the underlying socket is corked until the end of this tick. */
  corked = false
  private readonly socket: WebSocket
  private readonly maxBufferedBytes: number

  constructor (socket: WebSocket, request: FastifyRequest, boundPool: string | null, maxBufferedBytes: number, rate: RateCounter | null) {
    this.socket = socket
    this.request = request
    this.boundPool = boundPool
    this.maxBufferedBytes = maxBufferedBytes
    this.rate = rate
  }

  /**
   * Writes one serialized frame. Returns false when the socket is a slow reader (more than
   * `maxBufferedBytes` queued): the caller drops it rather than let server memory grow.
   */
  send (text: string): boolean {
    if (this.closed) return true
    const socket = this.socket
    if (socket.readyState !== OPEN) return true
    if (socket.bufferedAmount > this.maxBufferedBytes) return false
    if (!this.corked) {
      // Every frame for this socket in this tick goes out in one writev (about a sixth less CPU per relayed frame).
      const raw = (socket as unknown as { _socket?: { cork?: () => void } })._socket
      if (raw !== undefined && typeof raw.cork === 'function') {
        raw.cork()
        this.corked = true
        process.nextTick(uncork, this, raw)
      }
    }
    socket.send(text)
    return true
  }

  /** Sends a ping and clears `alive`; the pong sets it again. */
  ping (): void {
    this.alive = false
    if (this.socket.readyState === OPEN) this.socket.ping()
  }

  /** Closes with a code (idempotent). A slow or silent socket is terminated: a close frame would queue behind its backlog. */
  close (code: number, reason: string, terminate = false): void {
    if (this.closed) return
    this.closed = true
    if (terminate) this.socket.terminate()
    else this.socket.close(code, reason)
  }

  /** @internal */
  get rawSocket (): WebSocket {
    return this.socket
  }
}

function uncork (endpoint: Endpoint, raw: { uncork?: () => void }): void {
  endpoint.corked = false
  raw.uncork?.()
}
