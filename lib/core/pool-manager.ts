import type { Adapter } from '../adapters/adapter'
import { errors } from '../errors'
import { assertJoinedFits, type CoreOptions } from '../options'
import { eventMessage, isPoolName, isProtocolType } from '../protocol'
import type { Description, PoolInfo, PoolSettings } from '../types'
import { fn, integer } from '../validate'
import type { ClusterView } from './cluster-view'
import { checkDescription } from './description'
import type { ManagerEmitter, PoolManagerEvents } from './emitter'
import type { Endpoint } from './endpoint'
import type { IceRefresh } from './ice-refresh'
import type { AllowsRule } from './pool-view'

export interface CreatePoolOptions {
  /** Member limit; defaults to the plugin's `maxMembers`. */
  maxMembers?: number
  /** The pool's own rule, checked after the join hook on every join. */
  allows?: AllowsRule
}

type Listener<T> = (payload: T) => unknown

/** What the facade works with; made by `createCore`, never seen by users. */
export interface ManagerParts {
  readonly options: CoreOptions
  readonly cluster: ClusterView
  readonly adapter: Adapter
  readonly events: ManagerEmitter
  /** Each member's ICE servers; null when the `iceServers` option is not set. */
  readonly ice: IceRefresh | null
  /** True once the server has closed (calls then throw FST_RTC_CLOSED). */
  readonly disposed: () => boolean
}

let construct: (parts: ManagerParts) => PoolManager

/**
 * `fastify.rtcPools`: what server code can do with pools and members, cluster-wide, and the
 * events of this process's connections. A facade: the state lives in the core behind it.
 */
export class PoolManager {
  readonly #parts: ManagerParts

  private constructor (parts: ManagerParts) {
    this.#parts = parts
  }

  static {
    construct = (parts) => new PoolManager(parts)
  }

  /** This process's id in a cluster (the `node` of its members in `get` and `list`). */
  get node (): string {
    return this.#parts.cluster.node
  }

  on<K extends keyof PoolManagerEvents> (event: K, listener: Listener<PoolManagerEvents[K]>): this {
    this.#parts.events.on(event, listener)
    return this
  }

  off<K extends keyof PoolManagerEvents> (event: K, listener: Listener<PoolManagerEvents[K]>): this {
    this.#parts.events.off(event, listener)
    return this
  }

  /** The payload of the next `event`. */
  once<K extends keyof PoolManagerEvents> (event: K): Promise<PoolManagerEvents[K]> {
    return this.#parts.events.once(event)
  }

  listenerCount (event: keyof PoolManagerEvents): number {
    return this.#parts.events.listenerCount(event)
  }

  /** A connection of this process, by peer id. */
  endpoint (id: string): Endpoint | undefined {
    return this.#parts.cluster.endpoint(id)
  }

  /** Counts for this process: open connections and pools it has a view of. */
  stats (): { connections: number, pools: number } {
    return this.#parts.cluster.stats()
  }

  /** Creates a pool that lives until `closePool` (on a private server, the only kind that can be joined). */
  async createPool (name: string, opts: CreatePoolOptions = {}): Promise<PoolInfo> {
    const { adapter, cluster, events, options } = this.#open()
    this.#assertPoolName(name)
    const maxMembers = integer('maxMembers', opts.maxMembers, options.maxMembers, 1)
    assertJoinedFits('maxMembers', { ...options, maxMembers })
    const allows = fn<AllowsRule>('allows', opts.allows)
    const settings: PoolSettings = { name, maxMembers, persistent: true }
    if (!(await adapter.createPool(settings))) throw new errors.FST_RTC_POOL_EXISTS(name)
    if (allows !== null) cluster.setRule(name, allows)
    cluster.log.info({ pool: name, maxMembers }, 'rtc: pool created')
    events.emit('pool-created', { pool: name })
    return { ...settings, members: [] }
  }

  /** Closes a pool: every member gets `rtc:stop` and its socket is closed. */
  async closePool (name: string): Promise<void> {
    const { adapter } = this.#open()
    this.#assertPoolName(name)
    if (!(await adapter.closePool(name))) throw new errors.FST_RTC_NO_SUCH_POOL(name)
  }

  /** A pool's settings and members (cluster-wide, each with its `state`), or null. */
  async get (name: string): Promise<PoolInfo | null> {
    this.#assertPoolName(name)
    const info = await this.#parts.adapter.pool(name)
    return info === null ? null : this.#withStates(info)
  }

  /** Every pool with its members (cluster-wide, each with its `state`). */
  async list (): Promise<PoolInfo[]> {
    return (await this.#parts.adapter.pools()).map((info) => this.#withStates(info))
  }

  /** Members of this process are known here; others as the adapter reports them (connected when it does not say). */
  #withStates (info: PoolInfo): PoolInfo {
    const { cluster } = this.#parts
    for (const m of info.members) {
      m.state = m.node === cluster.node ? (cluster.isSuspended(m.id) ? 'suspended' : 'connected') : (m.state ?? 'connected')
    }
    return info
  }

  /**
   * Sets a member's trusted description; the other members of its pool get `rtc:describe`.
   * On a connection that has not joined yet it becomes the description it joins with.
   */
  async describe (id: string, description: Description): Promise<void> {
    const { adapter, cluster, options } = this.#open()
    const value = checkDescription(description, options.maxDescriptionBytes)
    const local = cluster.endpoint(id)
    if (local !== undefined && local.pool === null) {
      local.description = value
      return
    }
    const pool = local?.pool ?? (await this.#locate(id)).pool
    await adapter.describe(pool, id, value)
  }

  /** Disconnects a member (close code 1008); its peers get `rtc:close`. */
  async kick (id: string, reason = 'kicked'): Promise<void> {
    const { adapter, cluster } = this.#open()
    if (cluster.endpoint(id) !== undefined) {
      cluster.kickLocal(id, reason)
      return
    }
    await adapter.kick((await this.#locate(id)).node, id, reason)
  }

  /** Sends an application event to one member, wherever it is connected. */
  async send (id: string, type: string, data: unknown = {}): Promise<void> {
    const { cluster } = this.#open()
    const text = applicationEvent(type, data)
    const node = cluster.endpoint(id) !== undefined ? cluster.node : (await this.#locate(id)).node
    cluster.route({ id, node }, text)
  }

  /** Sends an application event to every member of a pool (but `except`). */
  async broadcast (pool: string, type: string, data: unknown = {}, opts: { except?: string } = {}): Promise<void> {
    const { adapter, cluster } = this.#open()
    this.#assertPoolName(pool)
    const text = applicationEvent(type, data)
    const members = cluster.view(pool)?.members.values() ?? (await adapter.pool(pool))?.members
    if (members === undefined) throw new errors.FST_RTC_NO_SUCH_POOL(pool)
    for (const m of members) if (m.id !== opts.except) cluster.route(m, text)
  }

  /**
   * Issues fresh ICE servers now and sends them as `rtc:ice`: to member `id`, or to every member
   * connected to this process (e.g. after rotating a TURN secret in a function-form `iceServers`).
   * Resolves with the number of members that got them (a provider that fails is logged at warn
   * and retried later); 0 when `iceServers` is not set. `id` must be a member of this process
   * (FST_RTC_NO_SUCH_PEER otherwise): in a cluster, call it on every process.
   */
  async refreshIce (id?: string): Promise<number> {
    const { cluster, ice } = this.#open()
    let endpoints: Endpoint[]
    if (id === undefined) {
      endpoints = Array.from(cluster.connections(), (c) => c.endpoint)
    } else {
      const endpoint = cluster.endpoint(id)
      if (endpoint === undefined || endpoint.pool === null) throw new errors.FST_RTC_NO_SUCH_PEER(String(id))
      endpoints = [endpoint]
    }
    if (ice === null) return 0
    const sent = await Promise.all(endpoints.filter((e) => e.pool !== null && !e.closed).map((e) => ice.refresh(e)))
    return sent.filter(Boolean).length
  }

  /** The parts, after checking the server is still open. */
  #open (): ManagerParts {
    if (this.#parts.disposed()) throw new errors.FST_RTC_CLOSED()
    return this.#parts
  }

  /** Where a member of another process is; FST_RTC_NO_SUCH_PEER when nobody knows it. */
  async #locate (id: string): Promise<{ pool: string, node: string }> {
    const where = await this.#parts.adapter.locate(id)
    if (where === null) throw new errors.FST_RTC_NO_SUCH_PEER(id)
    return where
  }

  #assertPoolName (name: unknown): asserts name is string {
    const max = this.#parts.options.maxPoolNameLength
    if (!isPoolName(name, max)) {
      throw new errors.FST_RTC_INVALID_POOL_NAME(`expected a non-empty string of at most ${max} characters, in well-formed Unicode`)
    }
  }
}

/** @internal The facade over a core's parts (for `createCore`). */
export function createManager (parts: ManagerParts): PoolManager {
  return construct(parts)
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
