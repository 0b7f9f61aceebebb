import type { Description, JoinOutcome, JoinPolicy, MemberInfo, PoolInfo, PoolSettings } from '../types'
import type { Adapter, AdapterHost } from './adapter'

interface PoolState {
  readonly settings: PoolSettings
  /** In join order (a Map keeps insertion order). */
  readonly members: Map<string, MemberInfo>
}

/**
 * The default adapter: one process. It keeps the pools (settings and members in join order) and
 * decides each change on its own state, then applies it once to the host. Every call decides and
 * applies synchronously, so nothing can interleave between a limit check and the join.
 */
export class MemoryAdapter implements Adapter {
  #host: AdapterHost | null = null
  readonly #pools = new Map<string, PoolState>()

  async attach (host: AdapterHost): Promise<void> {
    this.#host = host
  }

  get #attached (): AdapterHost {
    if (this.#host === null) throw new Error('MemoryAdapter: not attached to a server')
    return this.#host
  }

  async createPool (settings: PoolSettings): Promise<boolean> {
    if (this.#pools.has(settings.name)) return false
    this.#pools.set(settings.name, { settings: { ...settings }, members: new Map() })
    this.#attached.applyPool(settings)
    return true
  }

  async closePool (name: string): Promise<boolean> {
    if (!this.#pools.delete(name)) return false
    this.#attached.applyClose(name)
    return true
  }

  async join (pool: string, member: MemberInfo, policy: JoinPolicy): Promise<JoinOutcome> {
    let state = this.#pools.get(pool)
    const created = state === undefined
    if (state === undefined) {
      if (!policy.create) return { ok: false, reason: 'no-such-pool' }
      state = { settings: { name: pool, maxMembers: policy.maxMembers, persistent: false }, members: new Map() }
    }
    if (state.members.size >= state.settings.maxMembers) return { ok: false, reason: 'pool-full' }
    state.members.set(member.id, { ...member })
    const host = this.#attached
    if (created) {
      this.#pools.set(pool, state)
      host.applyPool(state.settings)
    }
    host.applyJoin(pool, member)
    return { ok: true, created }
  }

  async leave (pool: string, id: string): Promise<void> {
    const state = this.#pools.get(pool)
    if (state === undefined || !state.members.delete(id)) return
    if (state.members.size === 0 && !state.settings.persistent) this.#pools.delete(pool)
    this.#attached.applyLeave(pool, id)
  }

  async describe (pool: string, id: string, description: Description): Promise<void> {
    const member = this.#pools.get(pool)?.members.get(id)
    if (member === undefined) return
    member.description = description
    this.#attached.applyDescribe(pool, id, description)
  }

  /** Every member is in this process: delivered here. */
  forward (node: string, targetId: string, text: string, pool: string): void {
    this.#attached.deliver(targetId, text)
  }

  async kick (node: string, targetId: string, reason: string): Promise<void> {
    this.#attached.kickLocal(targetId, reason)
  }

  async locate (id: string): Promise<{ pool: string, node: string } | null> {
    for (const [name, state] of this.#pools) {
      const member = state.members.get(id)
      if (member !== undefined) return { pool: name, node: member.node }
    }
    return null
  }

  async pool (name: string): Promise<PoolInfo | null> {
    const state = this.#pools.get(name)
    return state === undefined ? null : info(state)
  }

  async pools (): Promise<PoolInfo[]> {
    return Array.from(this.#pools.values(), info)
  }

  async close (): Promise<void> {}
}

function info ({ settings, members }: PoolState): PoolInfo {
  return { ...settings, members: Array.from(members.values(), ({ id, description, node }) => ({ id, description, node })) }
}
