import type { FastifyBaseLogger } from 'fastify'
import type { RawData } from 'ws'
import type { Adapter } from '../adapters/adapter'
import { RATE_LIMIT_CLOSE_FACTOR, type CoreOptions, type JoinHook, type JoinHookResult } from '../options'
import {
  CLOSE_CODES, candidateFromJson, errorMessage, frameValue, isCandidate, isFrameError, isPeerId, isPoolName, isProtocolType,
  isSessionDescription, parseFrame, sdpFromJson, clip, type ErrorContext, type FrameData, type Reason
} from '../protocol'
import type { LeaveReason, MemberInfo } from '../types'
import type { ClusterView, Connection } from './cluster-view'
import { unrefTimeout, type Clock, type TimerHandle } from './clock'
import { checkDescription } from './description'
import { channels, receivedKind, sdpType, type HookFact } from './diagnostics'
import type { ManagerEmitter } from './emitter'
import { Endpoint, type ConnectionRequest, type SocketLike, type WriteLimits } from './endpoint'
import type { IceRefresh } from './ice-refresh'
import type { AllowsRule } from './pool-view'
import { RateCounter } from './rate-counter'

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
}

const COMPLETED = Promise.resolve()
const JOIN = 'rtc:join'
/** How many names of pools that do not exist a private server remembers, to log each once. */
const MAX_UNKNOWN_POOLS_LOGGED = 1000
/** What a join hook that did not answer within joinHookTimeout is taken to have answered. */
const HOOK_TIMED_OUT = Symbol('join hook timed out')

/**
 * One socket's life, from the upgrade to the close: every frame it sends goes through the
 * pipeline here (rate limit, size, binary, parse, dispatch), then relay, join admission (join
 * hook, the pool's rule, the adapter) or an application event; refusals and disconnects too.
 */
export class Session implements Connection {
  readonly endpoint: Endpoint
  readonly #ctx: SessionContext
  readonly #rate: RateCounter | null
  /** A join is in progress (hook, rule or adapter pending). */
  #joining = false
  /** Closes the socket if it has not joined within `joinTimeout`; null once joined or closed. */
  #joinTimer: TimerHandle | null = null
  /** When the join in progress started (performance.now()), for its fact. */
  #joinStarted = 0
  /** The type of the frame being handled, once parsed (for its fact). */
  #frameType: string | undefined = undefined

  constructor (ctx: SessionContext, socket: SocketLike, request: ConnectionRequest, boundPool: string | null) {
    const { rateLimit } = ctx.options
    this.#ctx = ctx
    this.#rate = rateLimit === null
      ? null
      : new RateCounter(rateLimit.max, rateLimit.timeWindow, rateLimit.max * (RATE_LIMIT_CLOSE_FACTOR - 1), ctx.clock.now())
    const endpoint = this.endpoint = new Endpoint(socket, request, boundPool, ctx.writeLimits)
    ctx.cluster.add(this)
    socket.on('message', (data, isBinary) => {
      this.#onMessage(data, isBinary)
      if (channels.frame.hasSubscribers) this.#received(data)
      this.#frameType = undefined
    })
    socket.on('pong', () => this.#onPong())
    socket.on('error', (err) => request.log.debug({ err, peer: endpoint.id }, 'rtc: socket error'))
    socket.on('close', (code) => this.#onClose(code))
    if (ctx.options.joinTimeout > 0) this.#joinTimer = unrefTimeout(ctx.clock, () => this.#joinTimedOut(), ctx.options.joinTimeout)
    request.log.debug({ peer: endpoint.id, pool: boundPool }, 'rtc: connected')
    if (channels.connection.hasSubscribers) channels.connection.publish({ node: ctx.cluster.node, event: 'open', peer: endpoint.id, pool: boundPool })
  }

  get #log (): FastifyBaseLogger {
    return this.endpoint.request.log
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
    switch (type) {
      case 'rtc:sdp':
      case 'rtc:candidate':
        this.#relay(type, data, frameText)
        return
      case JOIN:
        this.#join(data).catch((err: unknown) => this.#internalError(err))
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

  /** The relayed frame carries the sender's own JSON text of the description or candidate, once validated (frameValue). */
  #relay (type: 'rtc:sdp' | 'rtc:candidate', data: FrameData, frameText: string): void {
    const { id, pool } = this.endpoint
    const view = pool === null ? undefined : this.#ctx.cluster.view(pool)
    if (view === undefined) {
      this.#refuse('not-joined', undefined, { type })
      return
    }
    const sdp = type === 'rtc:sdp'
    const to = sdp ? data.to : data.for
    if (!isPeerId(to)) {
      this.#refuse('missing-target', undefined, { type })
      return
    }
    let text: string
    if (sdp) {
      if (!isSessionDescription(data.description)) {
        this.#refuse('invalid-description', undefined, { type, to })
        return
      }
      text = sdpFromJson(id, frameValue(frameText, 'description', data.description))
    } else {
      if (!isCandidate(data.candidate)) {
        this.#refuse('invalid-frame', 'rtc:candidate needs "candidate": an object, or null at the end of gathering', { type, to })
        return
      }
      text = candidateFromJson(id, frameValue(frameText, 'candidate', data.candidate))
    }
    const target = view.members.get(to)
    if (target === undefined) {
      this.#refuse('unknown-peer', `No member "${clip(to)}" in your pool`, { type, to })
      return
    }
    if (!this.#ctx.cluster.relay(target, text, view.name)) {
      this.#refuse('peer-busy', undefined, { type, to })
      return
    }
    if (channels.relay.hasSubscribers) {
      channels.relay.publish({ node: this.#ctx.cluster.node, pool: view.name, from: id, to, type: sdp ? 'sdp' : 'candidate', sdpType: sdp ? sdpType((data.description as { type: string }).type) : null, local: target.endpoint !== undefined })
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Join admission: the frame, the join hook, the pool's rule, then the adapter

  async #join (data: FrameData): Promise<void> {
    const { endpoint } = this
    const { maxPoolNameLength } = this.#ctx.options
    if (this.#joining) {
      this.#refuse('already-joined', 'A join is in progress on this connection: wait for its answer', { type: JOIN })
      return
    }
    if (endpoint.pool !== null) {
      this.#refuse('already-joined', `This connection is already in pool "${clip(endpoint.pool)}"`, { type: JOIN, pool: endpoint.pool })
      return
    }
    const requested = data.pool === undefined && endpoint.boundPool !== null ? endpoint.boundPool : data.pool
    if (!isPoolName(requested, maxPoolNameLength)) {
      this.#refuse('missing-pool', `rtc:join needs "pool": a non-empty string of at most ${maxPoolNameLength} characters, in well-formed Unicode`, { type: JOIN })
      return
    }
    if (endpoint.boundPool !== null && requested !== endpoint.boundPool) {
      this.#refuse('join-denied', `This connection is bound to pool "${clip(endpoint.boundPool)}" by its URL`, { type: JOIN, pool: requested })
      return
    }
    this.#joining = true
    this.#joinStarted = performance.now()
    try {
      await this.#admit(requested)
    } finally {
      this.#joining = false
    }
  }

  async #admit (requested: string): Promise<void> {
    const { endpoint } = this
    const { adapter, cluster, events, options, ice } = this.#ctx
    // The hook and the rule may take a while: a socket that closes meanwhile stops the join there.
    const hook = options.joinHook
    const pool = hook === null ? requested : await this.#askHook(hook, requested)
    if (pool === null || endpoint.closed) return
    const allows = cluster.rule(pool)
    if (allows !== undefined && (!(await this.#askRule(allows, pool)) || endpoint.closed)) return
    // Issued after the hook (which may set the description a provider reads), kept on the endpoint
    // for the rtc:joined that applyJoin writes, here or after a round trip through the adapter.
    if (ice !== null) {
      await ice.issueForJoin(endpoint)
      if (endpoint.closed) return
    }
    const member: MemberInfo = { id: endpoint.id, description: endpoint.description, node: cluster.node }
    const outcome = await adapter.join(pool, member, { create: !options.privatePools, maxMembers: options.maxMembers })
    if (!outcome.ok) {
      if (outcome.reason === 'no-such-pool') this.#hintUnknownPool(pool)
      this.#refuse(outcome.reason, 'message' in outcome ? outcome.message : undefined, { type: JOIN, pool })
      return
    }
    if (outcome.created === true) events.emit('pool-created', { pool })
    this.#clearJoinTimer()
    if (endpoint.closed) {
      // The socket closed while the adapter was admitting it: undo, so its peers see it leave. A socket
      // that was already gone when the join was applied is a member without endpoint: take it out by id.
      await (endpoint.pool === null ? adapter.leave(pool, endpoint.id) : this.leave('closed'))
      return
    }
    ice?.start(endpoint)
    this.#log.info({ peer: endpoint.id, pool }, 'rtc: joined')
    if (channels.join.hasSubscribers) channels.join.publish({ node: cluster.node, peer: endpoint.id, pool, result: 'ok', seconds: (performance.now() - this.#joinStarted) / 1000 })
    events.emit('join', { endpoint, pool })
  }

  /** The pool to join as the join hook maps it, or null when the hook refused (answered here). */
  async #askHook (hook: JoinHook, requested: string): Promise<string | null> {
    const { endpoint } = this
    const refuse = (): null => {
      this.#refuse('join-denied', undefined, { type: JOIN, pool: requested })
      return null
    }
    let result
    const started = performance.now()
    try {
      result = await this.#callHook(hook, requested)
      this.#hookAnswered('join-hook', requested, result === HOOK_TIMED_OUT ? 'timeout' : result === false ? 'denied' : 'allowed', started)
    } catch (err) {
      this.#hookAnswered('join-hook', requested, 'error', started)
      // A refusal, not a fault: its message, which the client gets too, and no stack.
      const message = err instanceof Error && err.message !== '' ? err.message : undefined
      this.#log.info({ peer: endpoint.id, pool: requested, message }, 'rtc: join refused by the join hook')
      this.#refuse('join-denied', message, { type: JOIN, pool: requested })
      return null
    }
    if (result === HOOK_TIMED_OUT) {
      const ms = this.#ctx.options.joinHookTimeout
      this.#log.warn({ peer: endpoint.id, pool: requested, joinHookTimeout: ms }, 'rtc: the join hook did not answer in time: join refused')
      this.#refuse('join-denied', `the join hook did not answer within ${ms} ms`, { type: JOIN, pool: requested })
      return null
    }
    if (result === false) return refuse()
    if (typeof result !== 'object' || result === null) return requested
    let pool = requested
    if (result.pool !== undefined) {
      if (!isPoolName(result.pool, this.#ctx.options.maxPoolNameLength)) {
        this.#log.error({ peer: endpoint.id, pool: requested }, 'rtc: the join hook mapped the pool to an invalid name')
        return refuse()
      }
      pool = result.pool
    }
    if ('description' in result) {
      try {
        endpoint.description = checkDescription(result.description, this.#ctx.options.maxDescriptionBytes)
      } catch (err) {
        this.#log.error({ peer: endpoint.id, pool: requested, err }, 'rtc: the join hook set a description that is not JSON or is over maxDescriptionBytes')
        return refuse()
      }
    }
    return pool
  }

  /** A private server was asked for a pool nobody created: say once per name how to fix it (a forgotten createPool is the usual cause). */
  #hintUnknownPool (pool: string): void {
    const { log, options, unknownPools } = this.#ctx
    if (!options.privatePools || unknownPools.has(pool) || unknownPools.size > MAX_UNKNOWN_POOLS_LOGGED) return
    if (unknownPools.size === MAX_UNKNOWN_POOLS_LOGGED) {
      unknownPools.add('') // a pool name is never empty: marks the end of logging
      log.info(`rtc: ${MAX_UNKNOWN_POOLS_LOGGED} pools that do not exist were asked for: no more are logged`)
      return
    }
    unknownPools.add(pool)
    log.info({ pool }, 'rtc: a join asked for a pool that does not exist; this server is private (privatePools: true), so only pools made with rtcPools.createPool can be joined: call rtcPools.createPool, or set privatePools: false')
  }

  /** The hook's answer, or HOOK_TIMED_OUT when it has none within joinHookTimeout (a late one is then ignored). */
  async #callHook (hook: JoinHook, requested: string): Promise<JoinHookResult | typeof HOOK_TIMED_OUT> {
    const { clock, options } = this.#ctx
    let timer: TimerHandle | undefined
    const timeout = new Promise<typeof HOOK_TIMED_OUT>((resolve) => {
      timer = unrefTimeout(clock, () => resolve(HOOK_TIMED_OUT), options.joinHookTimeout)
    })
    try {
      return await Promise.race([hook(this.endpoint.request, { pool: requested, endpoint: this.endpoint }), timeout])
    } finally {
      clock.clearTimeout(timer as TimerHandle)
    }
  }

  /** True when the pool's rule allows this endpoint; a refusal is answered here. */
  async #askRule (allows: AllowsRule, pool: string): Promise<boolean> {
    let allowed = false
    const started = performance.now()
    try {
      allowed = await allows(this.endpoint)
      this.#hookAnswered('allows', pool, allowed === true ? 'allowed' : 'denied', started)
    } catch (err) {
      this.#hookAnswered('allows', pool, 'error', started)
      this.#log.error({ peer: this.endpoint.id, pool, err }, 'rtc: the pool\'s allows() rule threw')
    }
    if (allowed === true) return true
    this.#refuse('join-denied', undefined, { type: JOIN, pool })
    return false
  }

  #hookAnswered (hook: HookFact['hook'], pool: string, result: HookFact['result'], started: number): void {
    if (!channels.hook.hasSubscribers) return
    channels.hook.publish({ node: this.#ctx.cluster.node, peer: this.endpoint.id, pool, hook, result, seconds: (performance.now() - started) / 1000 })
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

  /** Server-side disconnect: the socket is closed now and its peers are told right away, not after the close handshake. */
  drop (reason: LeaveReason, code: number, text: string, terminate = false): void {
    if (this.endpoint.closed) return
    this.endpoint.close(code, text, terminate)
    queueMicrotask(() => { this.#leaveLogged(reason) })
  }

  /** Heartbeat tick: terminates a socket that did not answer the last ping, pings the others. */
  beat (): void {
    if (this.endpoint.closed || this.endpoint.ping()) return
    this.#log.info({ peer: this.endpoint.id }, 'rtc: heartbeat missed, terminating')
    this.drop('heartbeat', CLOSE_CODES.goingAway, 'heartbeat missed', true)
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
    this.endpoint.markClosed()
    this.#ctx.cluster.remove(this.endpoint.id)
    this.#log.debug({ peer: this.endpoint.id, code }, 'rtc: disconnected')
    if (channels.connection.hasSubscribers) channels.connection.publish({ node: this.#ctx.cluster.node, event: 'close', peer: this.endpoint.id, code })
    this.#leaveLogged('closed')
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
