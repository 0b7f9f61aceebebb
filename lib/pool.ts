import type { Endpoint } from './endpoint'
import type { Description, PoolInfo, PoolSettings } from './types'

/** A pool's own join rule, as PyRTC's `Pool.allows`: return false to refuse with `join-denied`. */
export type AllowsRule = (endpoint: Endpoint) => boolean | Promise<boolean>

export type { PoolInfo, PoolSettings }

/** A member of a pool, wherever it is connected. */
export interface Member {
  id: string
  description: Description
  /** Id of the process (node) the member is connected to. */
  node: string
  /** Set when the member is connected to this process. */
  endpoint?: Endpoint
}

/**
 * This process's view of one pool: every member in join order (local ones with their Endpoint)
 * and the pool's settings. Its `allows` rule is kept by the PoolManager, by name.
 */
export class Pool {
  readonly name: string
  readonly maxMembers: number
  readonly persistent: boolean
  /** In join order (Map keeps insertion order). */
  readonly members = new Map<string, Member>()
  /** Members connected to this process. */
  localCount = 0
  /** Highest cluster sequence number applied (adapters that order events use it to drop stale ones). */
  seq = 0

  constructor (settings: PoolSettings) {
    this.name = settings.name
    this.maxMembers = settings.maxMembers
    this.persistent = settings.persistent
  }

  get size (): number {
    return this.members.size
  }

  settings (): PoolSettings {
    return { name: this.name, maxMembers: this.maxMembers, persistent: this.persistent }
  }

  info (): PoolInfo {
    const members = []
    for (const m of this.members.values()) members.push({ id: m.id, description: m.description, node: m.node })
    return { ...this.settings(), members }
  }
}
