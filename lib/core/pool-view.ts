import type { Description, MemberInfo, PoolInfo, PoolSettings } from '../types'
import type { Endpoint } from './endpoint'

/** A pool's own join rule, as PyRTC's `Pool.allows`: return false to refuse with `join-denied`. */
export type AllowsRule = (endpoint: Endpoint) => boolean | Promise<boolean>

/** A member of a pool, wherever it is connected. */
export interface Member extends Readonly<MemberInfo> {
  /** Set when the member is connected to this process. */
  readonly endpoint?: Endpoint
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * This process's view of one pool: the pool's settings and every member in join order (local
 * ones with their Endpoint). `add`, `remove` and `describe` are its only mutators; the cluster
 * view calls them when it applies membership events. Its `allows` rule is kept by name in the
 * cluster view, so that it outlives a view that is dropped and made again.
 */
export class PoolView {
  readonly name: string
  readonly maxMembers: number
  readonly persistent: boolean
  /** Highest cluster sequence number applied (adapters that order events use it to drop stale ones). */
  seq = 0
  readonly #members = new Map<string, Mutable<Member>>()
  #localCount = 0

  constructor (settings: PoolSettings) {
    this.name = settings.name
    this.maxMembers = settings.maxMembers
    this.persistent = settings.persistent
  }

  /** In join order. */
  get members (): ReadonlyMap<string, Member> {
    return this.#members
  }

  get size (): number {
    return this.#members.size
  }

  /** Members connected to this process. */
  get localCount (): number {
    return this.#localCount
  }

  add (member: Member): void {
    if (this.#members.has(member.id)) return
    this.#members.set(member.id, { ...member })
    if (member.endpoint !== undefined) this.#localCount++
  }

  /** The member removed, or undefined when it was not here. */
  remove (id: string): Member | undefined {
    const member = this.#members.get(id)
    if (member === undefined) return undefined
    this.#members.delete(id)
    if (member.endpoint !== undefined) this.#localCount--
    return member
  }

  /** A member moved to another process, or to this one (a resume there or here): its node and local endpoint now. */
  move (member: Member): void {
    const old = this.#members.get(member.id)
    if (old === undefined) {
      this.add(member)
      return
    }
    if (old.endpoint !== undefined) this.#localCount--
    if (member.endpoint !== undefined) this.#localCount++
    old.node = member.node
    old.endpoint = member.endpoint
  }

  /** Sets a member's description (and its endpoint's); the member, or undefined when it is not here. */
  describe (id: string, description: Description): Member | undefined {
    const member = this.#members.get(id)
    if (member === undefined) return undefined
    member.description = description
    if (member.endpoint !== undefined) member.endpoint.description = description
    return member
  }

  settings (): PoolSettings {
    return { name: this.name, maxMembers: this.maxMembers, persistent: this.persistent }
  }

  info (): PoolInfo {
    const members = []
    for (const m of this.#members.values()) members.push({ id: m.id, description: m.description, node: m.node })
    return { ...this.settings(), members }
  }
}
