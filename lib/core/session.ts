import type { FastifyBaseLogger } from 'fastify'
import type { RawData } from 'ws'
import type { Adapter, Handover } from '../adapters/adapter'
import { RATE_LIMIT_CLOSE_FACTOR, type CoreOptions } from '../options'
import { CLOSE_CODES, errorMessage, isFrameError, isProtocolType, parseFrame, clip, type ErrorContext, type FrameData, type Reason } from '../protocol'
import type { LeaveReason } from '../types'
import { Admission, JOIN } from './admission'
import type { ClusterView, Connection } from './cluster-view'
import { unrefTimeout, type Clock, type TimerHandle } from './clock'
import { channels, receivedKind } from './diagnostics'
import type { ManagerEmitter } from './emitter'
import { Endpoint, type ConnectionRequest, type SocketLike, type WriteLimits } from './endpoint'
import type { IceRefresh } from './ice-refresh'
import { RateCounter } from './rate-counter'
import { relay, type Refuse } from './relay'
import type { Resumable, Resumes } from './resume'
import { resume, type ResumeHost } from './resume-session'

/** What every session of one server shares. */
export interface SessionContext {
  readonly options: CoreOptions
  readonly cluster: ClusterView
  readonly adapter: Adapter
  readonly events: ManagerEmitter
  readonly log: FastifyBaseLogger
  readonly clock: Clock
  /** What every endpoint may queue, and who drops a slow reader (the cluster view). */
  readonly writeLimits: WriteLimits
  /** Pools that do not exist which a client asked a private server for, logged once each (at most MAX_UNKNOWN_POOLS_LOGGED). */
  readonly unknownPools: Set<string>
  /** Each member's ICE servers; null when the `iceServers` option is not set. */
  readonly ice: IceRefresh | null
  /** Resumable members by token; null when the `resume` option is false. */
  readonly resumes: Resumes | null
}

const COMPLETED = Promise.resolve()
const RESUME = 'rtc:resume'
/** WebSocket.OPEN */
const OPEN = 1
/** The close code ws reports for a close frame without a code (RFC 6455, 7.1.5). */
const NO_STATUS = 1005

/**
 * One socket's life, from the upgrade to the close: every frame it sends goes through the
 * pipeline here (rate limit, size, binary, parse, dispatch), then relay, join admission (its
 * Admission) or an application event; refusals and disconnects too.
 */
export class Session implements Connection {
  readonly endpoint: Endpoint
  readonly #ctx: SessionContext
  readonly #rate: RateCounter | null
  readonly #admission: Admission
  /** `#refuse`, for the parts that answer frames (admission, relay, resume). */
  readonly #refuser: Refuse = (reason, message, context) => { this.#refuse(reason, message, context) }
  /** The socket this session listens to: null once handed over (a resume) or given up (suspended). */
  #socket: SocketLike | null
  /** Frames received on this socket (an rtc:resume is valid only as the first). */
  #handled = 0
  /** The server decided this connection's end (kick, limits, errors): it is not suspended. */
  #final = false
  /** Its socket is gone and it waits for a resume (in the cluster view's suspended members). */
  #suspended = false
  /** Closed with 1012 by a drain: suspended when the socket has closed, whatever code the client answers with. */
  #restarting = false
  /** Its own id while it is taking over a member of another process (a resume there); null otherwise. */
  #claimedFrom: string | null = null
  /** Closes the socket if it has not joined within `joinTimeout`; null once joined or closed. */
  #joinTimer: TimerHandle | null = null
  /** The type of the frame being handled, once parsed (for its fact). */
  #frameType: string | undefined = undefined

  constructor (ctx: SessionContext, socket: SocketLike, request: ConnectionRequest, boundPool: string | null) {
    const { rateLimit } = ctx.options
    this.#ctx = ctx
    this.#rate = rateLimit === null
      ? null
      : new RateCounter(rateLimit.max, rateLimit.timeWindow, rateLimit.max * (RATE_LIMIT_CLOSE_FACTOR - 1), ctx.clock.now())
    const endpoint = this.endpoint = new Endpoint(socket, request, boundPool, ctx.writeLimits)
    this.#admission = new Admission(ctx, {
      endpoint,
      refuse: this.#refuser,
      admitted: () => { this.#clearJoinTimer() },
      leave: (reason) => this.leave(reason),
      resumable: () => ctx.resumes?.create(this) ?? null
    })
    ctx.cluster.add(this)
    this.#socket = socket
    this.#bind(socket)
    if (ctx.options.joinTimeout > 0) this.#joinTimer = unrefTimeout(ctx.clock, () => this.#joinTimedOut(), ctx.options.joinTimeout)
    request.log.debug({ peer: endpoint.id, pool: boundPool }, 'rtc: connected')
    if (channels.connection.hasSubscribers) channels.connection.publish({ node: ctx.cluster.node, event: 'open', peer: endpoint.id, pool: boundPool })
  }

  get #log (): FastifyBaseLogger {
    return this.endpoint.request.log
  }

  /** Listens to `socket`'s events for as long as it is this session's socket. */
  #bind (socket: SocketLike): void {
    socket.on('message', (data, isBinary) => {
      if (socket !== this.#socket) return
      this.#onMessage(data, isBinary)
      if (channels.frame.hasSubscribers) this.#received(data)
      this.#frameType = undefined
    })
    socket.on('pong', () => { if (socket === this.#socket) this.#onPong() })
    socket.on('error', (err) => this.#log.debug({ err, peer: this.endpoint.id }, 'rtc: socket error'))
    socket.on('close', (code) => { if (socket === this.#socket) this.#onClose(code) })
  }

  // ---------------------------------------------------------------------------------------------
  // Frames

  #onMessage (data: RawData, isBinary: boolean): void {
    if (this.endpoint.closed) return
    if (this.#rate !== null) {
      const verdict = this.#rate.hit(this.#ctx.clock.now())
      if (verdict !== 'ok') {
        this.#refuse('rate-limited')
        if (verdict === 'close') this.drop('rate-limited', CLOSE_CODES.policy, 'rate limit exceeded')
        return
      }
    }
    // ws hands text frames over as one Buffer; fragments (Buffer[]) and ArrayBuffers only with other binaryType settings.
    const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
    if (buffer.length > this.#ctx.options.maxPayload) {
      // Reached only when the app registered @fastify/websocket itself with a larger maxPayload.
      this.drop('error', CLOSE_CODES.tooBig, 'frame too large')
      return
    }
    if (isBinary) {
      this.#refuse('invalid-frame', 'Binary frames are not part of the protocol: send JSON as text')
      return
    }
    const text = buffer.toString('utf8')
    const frame = parseFrame(text)
    this.#frameType = frame.type
    if (isFrameError(frame)) {
      this.#refuse(frame.reason, undefined, frame.type === undefined ? {} : { type: frame.type })
      return
    }
    try {
      this.#dispatch(frame.type, frame.data, text)
    } catch (err) {
      this.#internalError(err)
    }
  }

  /** The received frame's fact (after it was handled: its type is known by then, when it could be read). */
  #received (data: RawData): void {
    const bytes = Buffer.isBuffer(data) ? data.length : Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength
    channels.frame.publish({ node: this.#ctx.cluster.node, peer: this.endpoint.id, direction: 'in', kind: receivedKind(this.#frameType), bytes })
  }

  #dispatch (type: string, data: FrameData, frameText: string): void {
    const first = this.#handled++ === 0
    switch (type) {
      case 'rtc:sdp':
      case 'rtc:candidate':
        relay(this.#ctx.cluster, this.endpoint, type, data, frameText, this.#refuser)
        return
      case JOIN:
        this.#admission.join(data).catch((err: unknown) => this.#internalError(err))
        return
      case RESUME:
        if (first) resume(this, this.#resumeHost, data).catch((err: unknown) => this.#internalError(err))
        else this.#refuse('invalid-frame', 'rtc:resume is only valid as the first frame on a connection', { type })
        return
    }
    if (isProtocolType(type)) {
      this.#refuse('unknown-action', `The protocol has no message "${clip(type)}"`, { type })
      return
    }
    const { events } = this.#ctx
    if (events.listenerCount('event') === 0) {
      this.#log.debug({ peer: this.endpoint.id, type }, 'rtc: application event with no listener')
    }
    events.emit('event', { endpoint: this.endpoint, type, data })
  }

  // ---------------------------------------------------------------------------------------------
  // Leaving and disconnecting

  /** Leaves the pool, if in one: listeners hear of it here, the peers through the adapter. */
  leave (reason: LeaveReason): Promise<void> {
    const { endpoint } = this
    const pool = endpoint.pool
    if (pool === null) return COMPLETED
    this.#log.info({ peer: endpoint.id, pool, reason }, 'rtc: left')
    endpoint.detach()
    if (channels.leave.hasSubscribers) channels.leave.publish({ node: this.#ctx.cluster.node, peer: endpoint.id, pool, reason })
    this.#ctx.events.emit('leave', { endpoint, pool, reason })
    return this.#ctx.adapter.leave(pool, endpoint.id)
  }

  /** Server-side disconnect: the socket is closed now and its peers are told right away, not after the close handshake. A suspended member just leaves. */
  drop (reason: LeaveReason, code: number, text: string, terminate = false): void {
    if (this.#suspended) {
      this.end(reason).catch((err: unknown) => this.#ctx.log.error({ err }, 'rtc: leave failed'))
      return
    }
    if (this.endpoint.closed) return
    this.#final = true
    this.endpoint.close(code, text, terminate)
    queueMicrotask(() => { this.#leaveLogged(reason) })
  }

  /** Heartbeat tick: terminates a socket that did not answer the last ping (a resumable member is suspended), pings the others. */
  beat (): void {
    if (this.endpoint.closed || this.endpoint.ping()) return
    this.#log.info({ peer: this.endpoint.id }, 'rtc: heartbeat missed, terminating')
    if (this.resumable) {
      this.endpoint.terminate()
      this.suspend()
    } else {
      this.drop('heartbeat', CLOSE_CODES.goingAway, 'heartbeat missed', true)
    }
  }

  /** A member that joined with `resume: true`, still in its pool, not suspended: its socket may end without it leaving. */
  get resumable (): boolean {
    return !this.#suspended && !this.#final && this.endpoint.pool !== null && this.endpoint.resumable?.counting === true
  }

  /** Its socket is gone: the member stays in its pool, frames to it are held, for resume.graceMs. */
  suspend (): void {
    const { endpoint } = this
    const { cluster, clock, events } = this.#ctx
    const resumable = endpoint.resumable
    const pool = endpoint.pool
    if (!this.resumable || resumable === null || pool === null) return
    this.#suspended = true
    this.#socket = null
    this.#clearJoinTimer()
    endpoint.release()
    cluster.suspend(this)
    this.#ctx.adapter.markSuspended?.(pool, endpoint.id, true)
    const expire = (): void => { this.end('resume-expired').catch((err: unknown) => this.#ctx.log.error({ err }, 'rtc: leave failed')) }
    resumable.suspend(clock, expire, expire)
    this.#log.info({ peer: endpoint.id, pool }, 'rtc: suspended')
    if (channels.resume.hasSubscribers) channels.resume.publish({ node: cluster.node, event: 'suspend', peer: endpoint.id, pool, result: null, replayed: 0 })
    events.emit('suspend', { endpoint, pool, id: endpoint.id })
  }

  /** @internal A suspended member leaves for good (its grace period ended, its resume failed, it was kicked, the server closes). */
  end (reason: LeaveReason): Promise<void> {
    if (!this.#suspended) return COMPLETED
    this.#suspended = false
    this.#final = true
    this.#ctx.cluster.unsuspend(this, false)
    if (reason === 'resume-expired' && channels.resume.hasSubscribers) {
      channels.resume.publish({ node: this.#ctx.cluster.node, event: 'expire', peer: this.endpoint.id, pool: this.endpoint.pool, result: null, replayed: 0 })
    }
    return this.leave(reason)
  }

  /**
   * Drain: the queued frames go first, then the close: 1012 for a resumable member (suspended when
   * the socket has closed, as any abnormal end), 1001 for others (they leave now).
   */
  shutdown (): Promise<void> {
    if (this.resumable) {
      this.#restarting = true
      this.endpoint.close(CLOSE_CODES.serviceRestart, 'service restart')
      return COMPLETED
    }
    this.#final = true
    this.endpoint.close(CLOSE_CODES.goingAway, 'server shutting down')
    return this.leave('shutdown')
  }

  /** What the resume procedure (lib/core/resume-session.ts) may do with this session. */
  get #resumeHost (): ResumeHost {
    return {
      ctx: this.#ctx,
      socket: this.#socket,
      admission: this.#admission,
      refuse: this.#refuser,
      drop: (code, text) => { this.drop('error', code, text) },
      handOver: () => {
        this.#clearJoinTimer()
        this.#socket = null
        this.endpoint.markClosed()
        this.#ctx.cluster.remove(this.endpoint.id)
      },
      open: () => this.#socket !== null && this.#socket.readyState === OPEN,
      claim: (id, resumable) => { this.#claim(id, resumable) },
      claimed: () => { this.#claimed() },
      unclaim: () => this.#unclaim()
    }
  }

  /**
   * A resume of a member of another process: this connection becomes that member (its id), and
   * what is written to it is held (counted) until the old process has handed the member over.
   */
  #claim (id: string, resumable: Resumable): void {
    const { endpoint } = this
    const { cluster } = this.#ctx
    this.#clearJoinTimer()
    this.#claimedFrom = endpoint.id
    cluster.remove(endpoint.id)
    endpoint.rename(id)
    resumable.count()
    resumable.fence()
    endpoint.setResumable(resumable)
    endpoint.release()
    this.#suspended = true
    cluster.suspend(this)
  }

  /** The member is here now: it goes on on this connection's socket. */
  #claimed (): void {
    const socket = this.#socket as SocketLike
    this.#claimedFrom = null
    this.#suspended = false
    this.endpoint.rebind(socket, this.endpoint.request)
    this.#ctx.cluster.unsuspend(this, true)
  }

  /** The claim failed (or the socket went meanwhile): the member leaves, if it came; the connection goes on as its own, unjoined. */
  async #unclaim (): Promise<void> {
    const { endpoint } = this
    const { cluster } = this.#ctx
    const own = this.#claimedFrom as string
    if (endpoint.pool !== null) {
      await this.end('resume-failed')
    } else {
      cluster.unsuspend(this, false)
      endpoint.resumable?.end(this.#ctx.clock)
      endpoint.setResumable(null)
    }
    this.#claimedFrom = null
    this.#suspended = false
    this.#final = false
    endpoint.rename(own)
    if (this.#socket === null) return
    endpoint.rebind(this.#socket, endpoint.request)
    cluster.add(this)
  }

  /** @internal A resume: the suspended member goes on on `socket`. */
  adopt (socket: SocketLike, request: ConnectionRequest): void {
    this.endpoint.rebind(socket, request)
    this.#socket = socket
    this.#handled = 1
    this.#suspended = false
    this.#bind(socket)
    this.#ctx.cluster.unsuspend(this, true)
  }

  /** @internal Resumed on another process: let go here without a leave, with its frames after `received` for it (null when not all kept). */
  moveAway (received: number, node: string): Handover | null {
    const { endpoint } = this
    const pool = endpoint.pool
    if (!this.#suspended) { // a socket the server still holds open: the client has lost it
      endpoint.terminate()
      this.suspend()
    }
    const resumable = endpoint.resumable
    const frames = this.#suspended ? resumable?.after(received) ?? null : null
    const held = resumable === null || frames === null ? null : { sent: resumable.sent, frames }
    this.#suspended = false
    this.#final = true
    this.#ctx.cluster.unsuspend(this, false)
    this.#ctx.cluster.remove(endpoint.id)
    endpoint.detach()
    this.#log.info({ peer: endpoint.id, pool, handedOver: held?.frames.length ?? null }, 'rtc: resumed on another process')
    if (channels.resume.hasSubscribers) channels.resume.publish({ node: this.#ctx.cluster.node, event: 'handover', peer: endpoint.id, pool, result: null, replayed: held?.frames.length ?? -1 })
    if (pool !== null) this.#ctx.events.emit('moved', { endpoint, pool, id: endpoint.id, node })
    return held
  }

  /** @internal Suspended, waiting for a resume. */
  get suspended (): boolean {
    return this.#suspended
  }

  /** `joinTimeout` passed without a join: a socket that only holds a connection open is let go. */
  #joinTimedOut (): void {
    this.#joinTimer = null
    if (this.endpoint.pool !== null || this.endpoint.closed) return
    this.#log.debug({ peer: this.endpoint.id }, 'rtc: no join within joinTimeout, closing')
    this.endpoint.close(CLOSE_CODES.policy, 'join timeout')
  }

  #clearJoinTimer (): void {
    if (this.#joinTimer === null) return
    this.#ctx.clock.clearTimeout(this.#joinTimer)
    this.#joinTimer = null
  }

  #onClose (code: number): void {
    this.#clearJoinTimer()
    if (this.#claimedFrom !== null) { // taking over a member: the claim sees the socket gone and ends it
      this.#socket = null
      this.#publishClosed(code)
      return
    }
    // A socket that ends without a clean close (a close frame with 1000, 1001 or no code), or by a drain: suspended.
    const clean = code === CLOSE_CODES.normal || code === CLOSE_CODES.goingAway || code === NO_STATUS
    if ((this.#restarting || !clean) && this.resumable) {
      this.suspend()
      this.#publishClosed(code)
      return
    }
    this.endpoint.markClosed()
    this.#ctx.cluster.remove(this.endpoint.id)
    this.#publishClosed(code)
    this.#leaveLogged('closed')
  }

  #publishClosed (code: number): void {
    this.#log.debug({ peer: this.endpoint.id, code }, 'rtc: disconnected')
    if (channels.connection.hasSubscribers) channels.connection.publish({ node: this.#ctx.cluster.node, event: 'close', peer: this.endpoint.id, code })
  }

  #onPong (): void {
    const seconds = this.endpoint.pong()
    if (seconds !== null && channels.heartbeat.hasSubscribers) channels.heartbeat.publish({ node: this.#ctx.cluster.node, peer: this.endpoint.id, seconds })
  }

  #leaveLogged (reason: LeaveReason): void {
    this.leave(reason).catch((err: unknown) => this.#ctx.log.error({ err }, 'rtc: leave failed'))
  }

  #internalError (err: unknown): void {
    this.#log.error({ err, peer: this.endpoint.id }, 'rtc: internal error while handling a frame')
    this.drop('error', CLOSE_CODES.internal, 'internal error')
  }

  /** Answers a frame with `rtc:error`; logged at debug (bad input is the client's problem, not the server's). */
  #refuse (reason: Reason, message?: string, context: ErrorContext = {}): void {
    this.#log.debug({ peer: this.endpoint.id, reason, type: context.type }, 'rtc: frame refused')
    this.#ctx.cluster.write(this.endpoint, errorMessage(reason, message, context))
    if (channels.error.hasSubscribers) channels.error.publish({ node: this.#ctx.cluster.node, peer: this.endpoint.id, reason, type: context.type ?? null })
    if (context.type === JOIN && channels.join.hasSubscribers) {
      channels.join.publish({ node: this.#ctx.cluster.node, peer: this.endpoint.id, pool: context.pool ?? null, result: reason, seconds: null })
    }
  }
}
