import type { Description, PoolInfo, PoolSettings } from '../types'
import type { Adapter, AdapterHost, JoinOutcome, JoinPolicy, MemberInfo } from './adapter'

/**
 * The default adapter: one process, where this PoolManager's views are the whole truth.
 * Every call applies synchronously, so nothing can interleave between a limit check and the join.
 */
export class MemoryAdapter implements Adapter {
  private host!: AdapterHost

  async attach (host: AdapterHost): Promise<void> {
    this.host = host
  }

  async createPool (settings: PoolSettings): Promise<boolean> {
    if (this.host.view(settings.name) !== undefined) return false
    this.host.applyPool(settings)
    return true
  }

  async closePool (name: string): Promise<boolean> {
    if (this.host.view(name) === undefined) return false
    this.host.applyClose(name)
    return true
  }

  async join (pool: string, member: MemberInfo, policy: JoinPolicy): Promise<JoinOutcome> {
    let view = this.host.view(pool)
    const created = view === undefined
    if (view === undefined) {
      if (!policy.create) return { ok: false, reason: 'no-such-pool' }
      view = this.host.applyPool({ name: pool, maxMembers: policy.maxMembers, persistent: false })
    }
    if (view.size >= view.maxMembers) return { ok: false, reason: 'pool-full' }
    this.host.applyJoin(pool, member)
    return { ok: true, created }
  }

  async leave (pool: string, id: string): Promise<void> {
    this.host.applyLeave(pool, id)
  }

  async describe (pool: string, id: string, description: Description): Promise<void> {
    this.host.applyDescribe(pool, id, description)
  }

  forward (node: string, targetId: string, text: string): void {
    this.host.deliver(targetId, text)
  }

  async kick (node: string, targetId: string, reason: string): Promise<void> {
    this.host.kickLocal(targetId, reason)
  }

  /** The manager looks up local endpoints itself; in one process there is nobody else. */
  async locate (): Promise<null> {
    return null
  }

  async pool (name: string): Promise<PoolInfo | null> {
    return this.host.view(name)?.info() ?? null
  }

  async pools (): Promise<PoolInfo[]> {
    return Array.from(this.host.views(), (v) => v.info())
  }

  async close (): Promise<void> {}
}
