import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import type { Adapter, AdapterHost, MemberInfo } from './adapters/adapter'
import { MemoryAdapter } from './adapters/memory'
import { CLOSE_CODES, Endpoint, RateCounter, type LeaveReason } from './endpoint'
import { errors } from './errors'
import { SafeEmitter } from './events'
import { RATE_LIMIT_CLOSE_FACTOR, type NormalizedOptions } from './options'
import type { Description } from './types'
import { fn, integer } from './validate'
import { Pool, type AllowsRule, type Member, type PoolInfo, type PoolSettings } from './pool'
import {
  STOP_MESSAGE, candidateMessage, closeMessage, describeMessage, errorMessage, eventMessage, isCandidate,
  isFrameError, isPeerId, isPoolName, isProtocolType, isSessionDescription, joinedMessage, parseFrame, peerMessage, sdpMessage,
  type ErrorContext, type FrameData, type Reason
} from './protocol'

/** Typed events of `fastify.rtcPools`. Listeners run on the process the endpoint is connected to. */
export interface PoolManagerEvents {
  /** A connection of this process joined a pool. */
  join: { endpoint: Endpoint, pool: string }
  /** A connection of this process left its pool. */
  leave: { endpoint: Endpoint, pool: string, reason: LeaveReason }
  /** An application event (a frame whose type does not start with `rtc:`) arrived. */
  event: { endpoint: Endpoint, type: string, data: FrameData }
  /** A pool was created by server code or by a public join on this process. */
  'pool-created': { pool: string }
  /** A pool was closed by server code, or a public pool lost its last member. */
  'pool-closed': { pool: string, reason: 'closed' | 'empty' }
}

export interface CreatePoolOptions {
  /** Member limit; defaults to the plugin's `maxMembers`. */
  maxMembers?: number
  /** The pool's own rule, checked after the join hook on every join. */
  allows?: AllowsRule
}

/** How long `closeAll` waits for sockets to finish their closing handshake before terminating them. */
const CLOSE_GRACE_MS = 2000

const COMPLETED = Promise.resolve()

/**
 * Pools, members and routing by id. Owns the protocol: every frame a connection sends is handled
 * here, every message a member receives is written from here. No Fastify import beyond types, so a
 * test can drive it with plain sockets.
 */
export class PoolManager extends SafeEmitter<PoolManagerEvents> implements AdapterHost {
  /** This process's id in a cluster. */
  readonly node: string = randomUUID()
  readonly log: FastifyBaseLogger
  private readonly options: NormalizedOptions
  private readonly adapter: Adapter
  private readonly endpoints = new Map<string, Endpoint>()
  private readonly views_ = new Map<string, Pool>()
  private readonly rules = new Map<string, AllowsRule>()
  private readonly closeWaiters = new Set<() => void>()
  private heartbeat: NodeJS.Timeout | null = null
  private closing = false
  private disposed = false

  constructor (options: NormalizedOptions, log: FastifyBaseLogger) {
    super(log)
    this.options = options
    this.log = log
    this.adapter = options.adapter ?? new MemoryAdapter()
  }

  /** @internal Attaches the adapter and starts the heartbeat; called once by the plugin. */
  async start (): Promise<void> {
    await this.adapter.attach(this)
    if (this.options.heartbeatInterval > 0) {
      this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatInterval)
      this.heartbeat.unref()
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Connections

  /** @internal Takes ownership of an upgraded socket. */
  connect (socket: WebSocket, request: FastifyRequest, boundPool: string | null): Endpoint | null {
    if (this.closing) {
      socket.close(CLOSE_CODES.goingAway, 'server shutting down')
      return null
    }
    const { rateLimit, maxBufferedBytes } = this.options
    const rate = rateLimit === null ? null : new RateCounter(rateLimit.max, rateLimit.timeWindow, rateLimit.max * RATE_LIMIT_CLOSE_FACTOR)
    const endpoint = new Endpoint(socket, request, boundPool, maxBufferedBytes, rate)
    this.endpoints.set(endpoint.id, endpoint)
    socket.on('message', (data, isBinary) => this.onMessage(endpoint, data, isBinary))
    socket.on('pong', () => { endpoint.alive = true })
    socket.on('error', (err) => request.log.debug({ err, peer: endpoint.id }, 'rtc: socket error'))
    socket.on('close', (code) => this.onClose(endpoint, code))
    request.log.debug({ peer: endpoint.id, pool: boundPool }, 'rtc: connected')
    return endpoint
  }

  private onClose (endpoint: Endpoint, code: number): void {
    endpoint.closed = true
    this.endpoints.delete(endpoint.id)
    endpoint.request.log.debug({ peer: endpoint.id, code }, 'rtc: disconnected')
    this.leave(endpoint, 'closed').catch((err: unknown) => this.log.error({ err }, 'rtc: leave failed'))
    if (this.endpoints.size === 0) for (const resolve of this.closeWaiters) resolve()
  }

  private onMessage (endpoint: Endpoint, data: RawData, isBinary: boolean): void {
    if (endpoint.closed) return
    if (endpoint.rate !== null) {
      const verdict = endpoint.rate.hit(Date.now())
      if (verdict !== 'ok') {
        this.refuse(endpoint, 'rate-limited')
        if (verdict === 'close') this.drop(endpoint, 'rate-limited', CLOSE_CODES.policy, 'rate limit exceeded')
        return
      }
    }
    // ws hands text frames over as one Buffer; fragments (Buffer[]) and ArrayBuffers only with other binaryType settings.
    const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
    if (buffer.length > this.options.maxPayload) {
      // Reached only when the app registered @fastify/websocket itself with a larger maxPayload.
      this.drop(endpoint, 'error', CLOSE_CODES.tooBig, 'frame too large')
      return
    }
    if (isBinary) {
      this.refuse(endpoint, 'invalid-frame', 'Binary frames are not part of the protocol: send JSON as text')
      return
    }
    const frame = parseFrame(buffer.toString('utf8'))
    if (isFrameError(frame)) {
      this.refuse(endpoint, frame.reason, undefined, frame.type === undefined ? {} : { type: frame.type })
      return
    }
    try {
      this.dispatch(endpoint, frame.type, frame.data)
    } catch (err) {
      this.internalError(endpoint, err)
    }
  }

  private dispatch (endpoint: Endpoint, type: string, data: FrameData): void {
    switch (type) {
      case 'rtc:sdp':
      case 'rtc:candidate':
        this.relay(endpoint, type, data)
        return
      case 'rtc:join':
        this.join(endpoint, data).catch((err: unknown) => this.internalError(endpoint, err))
        return
    }
    if (isProtocolType(type)) {
      this.refuse(endpoint, 'unknown-action', `The protocol has no message "${type}"`, { type })
      return
    }
    if (this.listenerCount('event') === 0) {
      endpoint.request.log.debug({ peer: endpoint.id, type }, 'rtc: application event with no listener')
    }
    this.emit('event', { endpoint, type, data })
  }

  private internalError (endpoint: Endpoint, err: unknown): void {
    endpoint.request.log.error({ err, peer: endpoint.id }, 'rtc: internal error while handling a frame')
    this.drop(endpoint, 'error', CLOSE_CODES.internal, 'internal error')
  }

  /** Answers a frame with `rtc:error`; logged at debug (bad input is the client's problem, not the server's). */
  private refuse (endpoint: Endpoint, reason: Reason, message?: string, context: ErrorContext = {}): void {
    endpoint.request.log.debug({ peer: endpoint.id, reason, type: context.type }, 'rtc: frame refused')
    this.write(endpoint, errorMessage(reason, message, context))
  }

  /** Writes to a local endpoint; a slow reader is dropped instead of buffering without bound. */
  private write (endpoint: Endpoint, text: string): void {
    if (!endpoint.send(text)) {
      endpoint.request.log.info({ peer: endpoint.id }, 'rtc: slow reader dropped (outgoing buffer over maxBufferedBytes)')
      this.drop(endpoint, 'slow-reader', CLOSE_CODES.policy, 'slow reader', true)
    }
  }

  /** Server-side disconnect: the socket is closed now and its peers are told right away, not after the close handshake. */
  private drop (endpoint: Endpoint, reason: LeaveReason, code: number, text: string, terminate = false): void {
    if (endpoint.closed) return
    endpoint.close(code, text, terminate)
    queueMicrotask(() => {
      this.leave(endpoint, reason).catch((err: unknown) => this.log.error({ err }, 'rtc: leave failed'))
    })
  }

  private beat (): void {
    for (const endpoint of this.endpoints.values()) {
      if (endpoint.closed) continue
      if (!endpoint.alive) {
        endpoint.request.log.info({ peer: endpoint.id }, 'rtc: heartbeat missed, terminating')
        this.drop(endpoint, 'heartbeat', CLOSE_CODES.goingAway, 'heartbeat missed', true)
      } else {
        endpoint.ping()
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Protocol: join and relay

  private validPoolName (name: unknown): name is string {
    return isPoolName(name, this.options.maxPoolNameLength)
  }

  private async join (endpoint: Endpoint, data: FrameData): Promise<void> {
    const type = 'rtc:join'
    if (endpoint.pool !== null || endpoint.joining) {
      this.refuse(endpoint, 'already-joined', `This connection is already in pool "${endpoint.pool ?? ''}"`, { type, pool: endpoint.pool ?? undefined })
      return
    }
    const requested = data.pool === undefined && endpoint.boundPool !== null ? endpoint.boundPool : data.pool
    if (!this.validPoolName(requested)) {
      this.refuse(endpoint, 'missing-pool', `rtc:join needs "pool": a non-empty string of at most ${this.options.maxPoolNameLength} characters`, { type })
      return
    }
    if (endpoint.boundPool !== null && requested !== endpoint.boundPool) {
      this.refuse(endpoint, 'join-denied', `This connection is bound to pool "${endpoint.boundPool}" by its URL`, { type, pool: requested })
      return
    }
    endpoint.joining = true
    try {
      await this.admit(endpoint, requested)
    } finally {
      endpoint.joining = false
    }
  }

  private async admit (endpoint: Endpoint, requested: string): Promise<void> {
    const type = 'rtc:join'
    let pool = requested
    const hook = this.options.joinHook
    if (hook !== null) {
      let result
      try {
        result = await hook(endpoint.request, { pool: requested, endpoint })
      } catch (err) {
        endpoint.request.log.info({ peer: endpoint.id, pool: requested, err }, 'rtc: join refused by the join hook')
        const message = err instanceof Error && err.message !== '' ? err.message : undefined
        this.refuse(endpoint, 'join-denied', message, { type, pool: requested })
        return
      }
      if (result === false) {
        this.refuse(endpoint, 'join-denied', undefined, { type, pool: requested })
        return
      }
      if (typeof result === 'object' && result !== null) {
        if (result.pool !== undefined) {
          if (!this.validPoolName(result.pool)) {
            endpoint.request.log.error({ peer: endpoint.id, pool: requested }, 'rtc: the join hook mapped the pool to an invalid name')
            this.refuse(endpoint, 'join-denied', undefined, { type, pool: requested })
            return
          }
          pool = result.pool
        }
        if ('description' in result) {
          try {
            endpoint.description = checkDescription(result.description)
          } catch (err) {
            endpoint.request.log.error({ peer: endpoint.id, pool: requested, err }, 'rtc: the join hook set a description that is not JSON')
            this.refuse(endpoint, 'join-denied', undefined, { type, pool: requested })
            return
          }
        }
      }
    }
    if (endpoint.closed) return
    const allows = this.rules.get(pool)
    if (allows !== undefined) {
      let allowed = false
      try {
        allowed = await allows(endpoint)
      } catch (err) {
        endpoint.request.log.error({ peer: endpoint.id, pool, err }, 'rtc: the pool\'s allows() rule threw')
      }
      if (allowed !== true) {
        this.refuse(endpoint, 'join-denied', undefined, { type, pool })
        return
      }
      if (endpoint.closed) return
    }
    const member: MemberInfo = { id: endpoint.id, description: endpoint.description, node: this.node }
    const outcome = await this.adapter.join(pool, member, { create: !this.options.privatePools, maxMembers: this.options.maxMembers })
    if (!outcome.ok) {
      this.refuse(endpoint, outcome.reason, 'message' in outcome ? outcome.message : undefined, { type, pool })
      return
    }
    if (outcome.created === true) this.emit('pool-created', { pool })
    if (endpoint.closed) {
      // The socket closed while the adapter was admitting it: undo, so its peers see it leave.
      await this.leave(endpoint, 'closed')
      return
    }
    endpoint.request.log.info({ peer: endpoint.id, pool }, 'rtc: joined')
    this.emit('join', { endpoint, pool })
  }

  private leave (endpoint: Endpoint, reason: LeaveReason): Promise<void> {
    const pool = endpoint.pool
    if (pool === null) return COMPLETED
    endpoint.request.log.info({ peer: endpoint.id, pool, reason }, 'rtc: left')
    endpoint.pool = null
    endpoint.view = null
    this.emit('leave', { endpoint, pool, reason })
    return this.adapter.leave(pool, endpoint.id)
  }

  private relay (endpoint: Endpoint, type: 'rtc:sdp' | 'rtc:candidate', data: FrameData): void {
    const view = endpoint.view
    if (view === null) {
      this.refuse(endpoint, 'not-joined', undefined, { type })
      return
    }
    const sdp = type === 'rtc:sdp'
    const to = sdp ? data.to : data.for
    if (!isPeerId(to)) {
      this.refuse(endpoint, 'missing-target', undefined, { type })
      return
    }
    let text: string
    if (sdp) {
      if (!isSessionDescription(data.description)) {
        this.refuse(endpoint, 'invalid-description', undefined, { type, to })
        return
      }
      text = sdpMessage(endpoint.id, data.description)
    } else {
      if (!isCandidate(data.candidate)) {
        this.refuse(endpoint, 'invalid-frame', 'rtc:candidate needs "candidate": an object, or null at the end of gathering', { type, to })
        return
      }
      text = candidateMessage(endpoint.id, data.candidate)
    }
    const target = view.members.get(to)
    if (target === undefined) {
      this.refuse(endpoint, 'unknown-peer', `No member "${to}" in your pool`, { type, to })
      return
    }
    if (target.endpoint !== undefined) this.write(target.endpoint, text)
    else this.adapter.forward(target.node, to, text)
  }

  // ---------------------------------------------------------------------------------------------
  // AdapterHost: applying cluster state to this process's views and local members

  /** @internal */
  view (name: string): Pool | undefined {
    return this.views_.get(name)
  }

  /** @internal */
  views (): IterableIterator<Pool> {
    return this.views_.values()
  }

  /** @internal */
  applyPool (settings: PoolSettings): Pool {
    let view = this.views_.get(settings.name)
    if (view === undefined) {
      view = new Pool(settings)
      this.views_.set(settings.name, view)
    }
    return view
  }

  /** @internal */
  applyJoin (poolName: string, info: MemberInfo, seq?: number): void {
    const view = this.views_.get(poolName)
    if (view === undefined || !fresh(view, seq) || view.members.has(info.id)) return
    const endpoint = info.node === this.node ? this.endpoints.get(info.id) : undefined
    const member: Member = { id: info.id, description: info.description, node: info.node, endpoint }
    if (endpoint !== undefined) {
      endpoint.pool = poolName
      endpoint.view = view
      view.localCount++
      const descriptions: Record<string, Description> = {}
      for (const m of view.members.values()) descriptions[m.id] = m.description
      descriptions[info.id] = info.description
      this.write(endpoint, joinedMessage(info.id, poolName, Array.from(view.members.keys()), descriptions))
    }
    const peer = peerMessage(info.id, info.description)
    // rtcpool 3.x ignores rtc:peer's description: a non-null one is repeated as rtc:describe (rule 7).
    const describe = info.description === null ? null : describeMessage(info.id, info.description)
    for (const m of view.members.values()) {
      if (m.endpoint === undefined) continue
      this.write(m.endpoint, peer)
      if (describe !== null) this.write(m.endpoint, describe)
    }
    view.members.set(info.id, member)
  }

  /** @internal */
  applyLeave (poolName: string, id: string, seq?: number): void {
    const view = this.views_.get(poolName)
    if (view === undefined || !fresh(view, seq)) return
    const member = view.members.get(id)
    if (member === undefined) return
    view.members.delete(id)
    if (member.endpoint !== undefined) {
      view.localCount--
      if (member.endpoint.view === view) {
        member.endpoint.pool = null
        member.endpoint.view = null
      }
    }
    const text = closeMessage(id)
    for (const m of view.members.values()) if (m.endpoint !== undefined) this.write(m.endpoint, text)
    if (view.persistent) return
    if (view.size === 0) {
      this.views_.delete(poolName)
      this.emit('pool-closed', { pool: poolName, reason: 'empty' })
    } else if (view.localCount === 0) {
      this.views_.delete(poolName) // no local member left to serve: stop tracking a pool that lives on elsewhere
    }
  }

  /** @internal */
  applyDescribe (poolName: string, id: string, description: Description, seq?: number): void {
    const view = this.views_.get(poolName)
    if (view === undefined || !fresh(view, seq)) return
    const member = view.members.get(id)
    if (member === undefined) return
    member.description = description
    if (member.endpoint !== undefined) member.endpoint.description = description
    const text = describeMessage(id, description)
    for (const m of view.members.values()) if (m.endpoint !== undefined && m.id !== id) this.write(m.endpoint, text)
  }

  /** @internal */
  applyClose (poolName: string): void {
    const view = this.views_.get(poolName)
    this.rules.delete(poolName)
    if (view === undefined) return
    this.views_.delete(poolName)
    for (const m of view.members.values()) {
      const endpoint = m.endpoint
      if (endpoint === undefined) continue
      endpoint.pool = null
      endpoint.view = null
      this.write(endpoint, STOP_MESSAGE)
      endpoint.close(CLOSE_CODES.normal, 'pool closed')
      this.emit('leave', { endpoint, pool: poolName, reason: 'pool-closed' })
    }
    this.log.info({ pool: poolName }, 'rtc: pool closed')
    this.emit('pool-closed', { pool: poolName, reason: 'closed' })
  }

  /** @internal */
  deliver (targetId: string, text: string): void {
    const endpoint = this.endpoints.get(targetId)
    if (endpoint !== undefined) this.write(endpoint, text)
  }

  /** @internal */
  kickLocal (targetId: string, reason: string): void {
    const endpoint = this.endpoints.get(targetId)
    if (endpoint !== undefined) this.drop(endpoint, 'kicked', CLOSE_CODES.policy, reason)
  }

  // ---------------------------------------------------------------------------------------------
  // Server API

  /** A connection of this process, by peer id. */
  endpoint (id: string): Endpoint | undefined {
    return this.endpoints.get(id)
  }

  /** Counts for this process: open connections and pools it has a view of. */
  stats (): { connections: number, pools: number } {
    return { connections: this.endpoints.size, pools: this.views_.size }
  }

  /** Creates a pool that lives until `closePool` (on a private server, the only kind that can be joined). */
  async createPool (name: string, opts: CreatePoolOptions = {}): Promise<PoolInfo> {
    this.assertOpen()
    this.assertPoolName(name)
    const maxMembers = integer('maxMembers', opts.maxMembers, this.options.maxMembers, 1)
    const allows = fn<AllowsRule>('allows', opts.allows)
    const settings: PoolSettings = { name, maxMembers, persistent: true }
    if (!(await this.adapter.createPool(settings))) throw new errors.FST_RTC_POOL_EXISTS(name)
    if (allows !== null) this.rules.set(name, allows)
    this.log.info({ pool: name, maxMembers }, 'rtc: pool created')
    this.emit('pool-created', { pool: name })
    return { ...settings, members: [] }
  }

  /** Closes a pool: every member gets `rtc:stop` and its socket is closed. */
  async closePool (name: string): Promise<void> {
    this.assertOpen()
    this.assertPoolName(name)
    if (!(await this.adapter.closePool(name))) throw new errors.FST_RTC_NO_SUCH_POOL(name)
  }

  /** A pool's settings and members (cluster-wide), or null. */
  async get (name: string): Promise<PoolInfo | null> {
    this.assertPoolName(name)
    return await this.adapter.pool(name)
  }

  /** Every pool with its members (cluster-wide). */
  async list (): Promise<PoolInfo[]> {
    return await this.adapter.pools()
  }

  /**
   * Sets a member's trusted description; the other members of its pool get `rtc:describe`.
   * On a connection that has not joined yet it becomes the description it joins with.
   */
  async describe (id: string, description: Description): Promise<void> {
    this.assertOpen()
    const value = checkDescription(description)
    const local = this.endpoints.get(id)
    if (local !== undefined && local.pool === null) {
      local.description = value
      return
    }
    const where = local !== undefined ? { pool: local.pool as string } : await this.adapter.locate(id)
    if (where === null) throw new errors.FST_RTC_NO_SUCH_PEER(id)
    await this.adapter.describe(where.pool, id, value)
  }

  /** Disconnects a member (close code 1008); its peers get `rtc:close`. */
  async kick (id: string, reason = 'kicked'): Promise<void> {
    this.assertOpen()
    const local = this.endpoints.get(id)
    if (local !== undefined) {
      this.drop(local, 'kicked', CLOSE_CODES.policy, reason)
      return
    }
    const where = await this.adapter.locate(id)
    if (where === null) throw new errors.FST_RTC_NO_SUCH_PEER(id)
    await this.adapter.kick(where.node, id, reason)
  }

  /** Sends an application event to one member, wherever it is connected. */
  async send (id: string, type: string, data: unknown = {}): Promise<void> {
    this.assertOpen()
    const text = applicationEvent(type, data)
    const local = this.endpoints.get(id)
    if (local !== undefined) {
      this.write(local, text)
      return
    }
    const where = await this.adapter.locate(id)
    if (where === null) throw new errors.FST_RTC_NO_SUCH_PEER(id)
    this.adapter.forward(where.node, id, text)
  }

  /** Sends an application event to every member of a pool (but `except`). */
  async broadcast (pool: string, type: string, data: unknown = {}, opts: { except?: string } = {}): Promise<void> {
    this.assertOpen()
    this.assertPoolName(pool)
    const text = applicationEvent(type, data)
    const view = this.views_.get(pool)
    const members: Iterable<Pick<Member, 'id' | 'node'>> | undefined = view?.members.values() ?? (await this.adapter.pool(pool))?.members
    if (members === undefined) throw new errors.FST_RTC_NO_SUCH_POOL(pool)
    for (const m of members) {
      if (m.id === opts.except) continue
      const local = m.node === this.node ? this.endpoints.get(m.id) : undefined
      if (local !== undefined) this.write(local, text)
      else this.adapter.forward(m.node, m.id, text)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Closes every connection with `code` (1001 on shutdown) and waits for the sockets to go. Idempotent. */
  async closeAll (code: number = CLOSE_CODES.goingAway): Promise<void> {
    this.closing = true
    this.stopHeartbeat()
    const endpoints = Array.from(this.endpoints.values())
    for (const endpoint of endpoints) endpoint.close(code, 'server shutting down')
    await Promise.all(endpoints.map((e) => this.leave(e, 'shutdown').catch((err: unknown) => this.log.error({ err }, 'rtc: leave failed'))))
    if (this.endpoints.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.closeWaiters.add(resolve)
      timer = setTimeout(() => {
        for (const endpoint of this.endpoints.values()) endpoint.rawSocket.terminate()
        resolve()
      }, CLOSE_GRACE_MS)
      timer.unref()
    })
    clearTimeout(timer)
    this.closeWaiters.clear()
  }

  /** Stops timers and releases the adapter. Idempotent. */
  async dispose (): Promise<void> {
    if (this.disposed) return
    this.disposed = true
    this.closing = true
    this.stopHeartbeat()
    await this.adapter.close()
  }

  private stopHeartbeat (): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat)
    this.heartbeat = null
  }

  private assertOpen (): void {
    if (this.disposed) throw new errors.FST_RTC_CLOSED()
  }

  private assertPoolName (name: unknown): asserts name is string {
    if (!this.validPoolName(name)) {
      throw new errors.FST_RTC_INVALID_POOL_NAME(`expected a non-empty string of at most ${this.options.maxPoolNameLength} characters`)
    }
  }
}

/** An adapter that numbers events sets `seq`; an event no newer than the last applied is stale. */
function fresh (view: Pool, seq: number | undefined): boolean {
  if (seq === undefined) return true
  if (seq <= view.seq) return false
  view.seq = seq
  return true
}

/** Descriptions go out as JSON: refuse what JSON cannot carry, and store `undefined` as `null`. */
function checkDescription (description: unknown): Description {
  if (description === undefined || description === null) return null
  let text: string | undefined
  try {
    text = JSON.stringify(description)
  } catch (err) {
    throw new errors.FST_RTC_INVALID_DESCRIPTION((err as Error).message)
  }
  if (text === undefined) throw new errors.FST_RTC_INVALID_DESCRIPTION(`a ${typeof description} is not JSON`)
  return JSON.parse(text) as Description
}

function applicationEvent (type: string, data: unknown): string {
  if (typeof type !== 'string' || type.length === 0 || isProtocolType(type)) {
    throw new errors.FST_RTC_INVALID_EVENT(`type must be a non-empty string not starting with "rtc:", got ${JSON.stringify(type)}`)
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new errors.FST_RTC_INVALID_EVENT('data must be a JSON object')
  }
  try {
    return eventMessage(type, data)
  } catch (err) {
    throw new errors.FST_RTC_INVALID_EVENT((err as Error).message)
  }
}
