import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { RawData } from 'ws'
import type { Description, IceServersResult } from '../types'
import { unrefTimeout, type Clock, type TimerHandle } from './clock'
import type { Resumable } from './resume'

/**
 * What a connection keeps of its upgrade request for its life: the fields hooks read, and every
 * field the app's hooks set on the request (`request.user`...), as values. Not the Node request, the
 * reply or the HTTP response (lib/fastify/upgrade-request.ts).
 */
export type ConnectionRequest = Pick<FastifyRequest, 'id' | 'params' | 'query' | 'headers' | 'log' | 'ip' | 'ips' | 'hostname' | 'host' | 'protocol' | 'method' | 'url'> &
  { readonly [field: string]: unknown }

/** The part of a `ws` WebSocket the core uses; a test can hand in any object with these members. */
export interface SocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  send (data: string): void
  ping (): void
  close (code: number, reason: string): void
  terminate (): void
  on (event: 'message', listener: (data: RawData, isBinary: boolean) => void): unknown
  on (event: 'pong', listener: () => void): unknown
  on (event: 'error', listener: (err: Error) => void): unknown
  on (event: 'close', listener: (code: number) => void): unknown
}

/**
 * What became of a frame given to `send`: written; not written (the socket is closing or closed);
 * or, for a relayed frame only, refused because the reader's queue has no room for it (`peer-busy`).
 */
export type SendVerdict = 'sent' | 'closed' | 'busy'

/** How much an endpoint may queue for its reader, and who hears of a reader that stays over it. One per server. */
export interface WriteLimits {
  readonly maxBufferedBytes: number
  /** How long the queue may stay over maxBufferedBytes before `slowReader` is called. */
  readonly slowReaderTimeout: number
  readonly clock: Clock
  /** The endpoint's queue has been over the limit for slowReaderTimeout: drop it. */
  slowReader (endpoint: Endpoint): void
}

const OPEN = 1
const CLOSED = 3

/** Stands in for the socket of a suspended member, so the closed one (and its buffers) can be collected. */
const GONE: SocketLike = {
  readyState: CLOSED,
  bufferedAmount: 0,
  send () {},
  ping () {},
  close () {},
  terminate () {},
  on () { return GONE }
}

/** A close frame's reason holds at most 123 bytes of UTF-8 (RFC 6455, 5.5: 125 bytes of payload less the code). */
const MAX_CLOSE_REASON_BYTES = 123

/** `reason` cut to MAX_CLOSE_REASON_BYTES of UTF-8, never inside a character (ws throws on a longer one). */
function closeReason (reason: string): string {
  if (reason.length * 3 <= MAX_CLOSE_REASON_BYTES || Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason
  const bytes = Buffer.from(reason)
  let end = MAX_CLOSE_REASON_BYTES
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end-- // bytes[end] continues the character before it
  return bytes.subarray(0, end).toString()
}

/**
 * A new peer id: a random UUID v4 as one flat string. randomUUID builds its string by concatenation,
 * a tree of some twenty strings (0.6 KB) until something flattens it (the first frame that carries
 * it): a connection that never joins kept the tree. Copied through a Buffer: 56 B.
 */
function newPeerId (): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1')
}

interface Corkable {
  cork?: () => void
  uncork?: () => void
}

/**
 * Coalescing: a socket that gets a second frame in one tick is corked until the tick ends, so the
 * rest of its frames leave in one writev; one that gets a single frame writes it at once (corking
 * it would cost a deferral and a buffered write for nothing). One shared microtask per tick in
 * which anything was written tells the ticks apart (`tick`) and uncorks: a promise job, which
 * Node runs natively once the callback returns, costs less than a process.nextTick (measured:
 * nextTick was 2 to 4% of relay CPU at one frame in flight).
 */
let tick = 1
let tickEnding = false
const RESOLVED = Promise.resolve()
const corkedSockets: Corkable[] = []

function endTick (): void {
  tick++
  tickEnding = false
  for (const raw of corkedSockets) {
    try {
      raw.uncork?.()
    } catch {} // a socket destroyed meanwhile: its writes fail on their own; the others are still uncorked
  }
  corkedSockets.length = 0
}

/**
 * One connected socket: its server-assigned id, the pool it is in and its trusted description.
 * It writes to its socket (coalescing a tick's frames), refuses relayed frames its reader has no
 * room for, gives the slow-reader verdict, answers the heartbeat and closes; what a frame means
 * is the Session's business.
 */
export class Endpoint {
  #id: string = newPeerId()
  /** Trusted metadata set by server code; `null` when none. */
  description: Description = null
  #request: ConnectionRequest
  /** The pool named in the route path (`{prefix}/:pool`), if any: the only pool this connection may join. */
  readonly boundPool: string | null
  #pool: string | null = null
  /** Its ICE servers, issued before the join is applied (rtc:joined carries them); private: they hold credentials. */
  #ice: IceServersResult | null = null
  #onDetach: (() => void) | null = null
  /** Set for a member that joined with `resume: true` (and the option is on): counts and keeps its frames. */
  #resumable: Resumable | null = null
  #closed = false
  #alive = true
  /** When the unanswered ping was sent (performance.now()), or -1. */
  #pinged = -1
  /** The last `tick` in which it was written to, and in which its socket was corked. */
  #wroteIn = 0
  #corkedIn = 0
  /** Runs while the queue is over maxBufferedBytes (as last seen); null when it is not. */
  #slowTimer: TimerHandle | null = null
  #socket: SocketLike
  readonly #limits: WriteLimits
  readonly #maxBufferedBytes: number

  constructor (socket: SocketLike, request: ConnectionRequest, boundPool: string | null, limits: WriteLimits) {
    this.#socket = socket
    this.#request = request
    this.boundPool = boundPool
    this.#limits = limits
    this.#maxBufferedBytes = limits.maxBufferedBytes
  }

  /** Random UUID v4, assigned by the server (docs/protocol.md, rule 1). */
  get id (): string {
    return this.#id
  }

  /** @internal A resume of a member of another process: this connection goes on as that member (or back to its own id if it fails). */
  rename (id: string): void {
    this.#id = id
  }

  /** What it keeps of its upgrade request: headers, query, params, `log`, what auth hooks set on it; after a resume, the new socket's. */
  get request (): ConnectionRequest {
    return this.#request
  }

  /** The pool this connection is in, or null before joining and after leaving. */
  get pool (): string | null {
    return this.#pool
  }

  /** The socket is closing or closed: nothing more is written. */
  get closed (): boolean {
    return this.#closed
  }

  /** @internal The ICE servers this member was last given, for `rtc:joined.ice`; null when none. */
  get ice (): IceServersResult | null {
    return this.#ice
  }

  /** @internal Set by the session (at join) and the ICE refresh. */
  setIce (ice: IceServersResult | null): void {
    this.#ice = ice
  }

  /** @internal Now a member of `pool` (the cluster view applied its join). */
  attach (pool: string): void {
    this.#pool = pool
  }

  /** @internal The member's resume state; null when it did not ask to be resumable. */
  get resumable (): Resumable | null {
    return this.#resumable
  }

  /** @internal Set by the admission for a join that asked for `resume: true`. */
  setResumable (resumable: Resumable | null): void {
    this.#resumable = resumable
  }

  /** @internal The member resumes on a new socket: it writes there from now on. */
  rebind (socket: SocketLike, request: ConnectionRequest): void {
    this.#stopWatch()
    this.#socket = socket
    this.#request = request
    this.#closed = false
    this.#alive = true
    this.#pinged = -1
  }

  /** @internal No longer a member of any pool (every way out: leave, close, kick, pool closed); runs the `onDetach` cleanup. */
  detach (): void {
    this.#pool = null
    this.#resumable?.end(this.#limits.clock)
    this.#resumable = null
    const cleanup = this.#onDetach
    this.#onDetach = null
    cleanup?.()
  }

  /** @internal What to undo when it leaves its pool (its ICE refresh timer); replaces an earlier one. */
  onDetach (cleanup: (() => void) | null): void {
    this.#onDetach = cleanup
  }

  /**
   * Writes one serialized frame. The server's own frames are always queued. A `relayed` frame
   * (one member's rtc:sdp or rtc:candidate to another) that would take the queue over
   * maxBufferedBytes is refused ('busy'): its sender pays (`peer-busy`), not the reader. A queue
   * that stays over the limit for slowReaderTimeout gets the slow-reader verdict. For a resumable
   * member every `counted` frame is also kept for replay; one written while its socket is gone is
   * held (the member is, or is about to be, suspended).
   */
  send (text: string, relayed = false, counted = true): SendVerdict {
    const socket = this.#socket
    const resumable = counted && this.#resumable?.counting === true ? this.#resumable : null
    if (this.#closed || socket.readyState !== OPEN) {
      if (resumable === null) return 'closed'
      resumable.record(text)
      return 'sent'
    }
    const queued = socket.bufferedAmount
    // text.length: the frame's bytes for ASCII (SDP, candidates), a lower bound otherwise.
    if (relayed && queued + text.length > this.#maxBufferedBytes) {
      this.#watch(queued)
      return 'busy'
    }
    this.#watch(queued + text.length)
    if (this.#wroteIn !== tick) {
      this.#wroteIn = tick
      if (!tickEnding) {
        tickEnding = true
        RESOLVED.then(endTick) // endTick never throws
      }
    } else if (this.#corkedIn !== tick) {
      // A second frame in this tick: the rest go out with it in one writev (about a sixth less CPU per relayed frame).
      this.#corkedIn = tick
      const raw = (socket as unknown as { _socket?: Corkable })._socket
      if (raw !== undefined && typeof raw.cork === 'function') {
        raw.cork()
        corkedSockets.push(raw)
      }
    }
    socket.send(text)
    resumable?.record(text)
    return 'sent'
  }

  /** Starts the slow-reader clock when the queue goes over the limit, stops it when it is back under. */
  #watch (queued: number): void {
    if (queued <= this.#maxBufferedBytes) {
      if (this.#slowTimer !== null) this.#stopWatch()
    } else if (this.#slowTimer === null) {
      this.#slowTimer = unrefTimeout(this.#limits.clock, () => { this.#slowVerdict() }, this.#limits.slowReaderTimeout)
    }
  }

  #slowVerdict (): void {
    this.#slowTimer = null
    if (this.#closed || this.#socket.bufferedAmount <= this.#maxBufferedBytes) return
    this.#limits.slowReader(this)
  }

  #stopWatch (): void {
    if (this.#slowTimer === null) return
    this.#limits.clock.clearTimeout(this.#slowTimer)
    this.#slowTimer = null
  }

  /** @internal Heartbeat: false when the last ping went unanswered; otherwise pings again. */
  ping (): boolean {
    if (!this.#alive) return false
    this.#alive = false
    if (this.#socket.readyState === OPEN) {
      this.#socket.ping()
      this.#pinged = performance.now()
    }
    return true
  }

  /** @internal The socket answered a ping: the seconds since that ping, or null for a pong nobody asked for. */
  pong (): number | null {
    this.#alive = true
    if (this.#pinged < 0) return null
    const seconds = (performance.now() - this.#pinged) / 1000
    this.#pinged = -1
    return seconds
  }

  /**
   * @internal Closes with a code (idempotent); the reason is cut to 123 bytes. A slow or silent
   * socket is terminated: a close frame would queue behind its backlog.
   */
  close (code: number, reason: string, terminate = false): void {
    if (this.#closed) return
    this.#closed = true
    this.#stopWatch()
    if (terminate) this.#socket.terminate()
    else this.#socket.close(code, closeReason(reason))
  }

  /** @internal Drops the connection now, even if a close handshake is under way. */
  terminate (): void {
    this.#closed = true
    this.#stopWatch()
    this.#socket.terminate()
  }

  /** @internal Suspended: the socket is gone for good; frames are held until a resume rebinds a new one. */
  release (): void {
    this.markClosed()
    this.#socket = GONE
  }

  /** @internal The socket closed (either side). */
  markClosed (): void {
    this.#closed = true
    this.#stopWatch()
  }
}
