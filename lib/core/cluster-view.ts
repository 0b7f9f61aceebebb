import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Adapter, AdapterHost, Handover } from '../adapters/adapter'
import { CLOSE_CODES, STOP_MESSAGE, closeMessage, describeMessage, isRelayFrame, joinedMessage, peerMessage } from '../protocol'
import type { Description, LeaveReason, MemberInfo, PoolSettings } from '../types'
import { channels, publishSent } from './diagnostics'
import type { ManagerEmitter } from './emitter'
import type { Endpoint, SendVerdict } from './endpoint'
import { PoolView, type AllowsRule, type Member } from './pool-view'

/** A connection of this process, as the cluster view knows it (a Session). */
export interface Connection {
  readonly endpoint: Endpoint
  /** Server-side disconnect: closes the socket now and tells its peers right away. */
  drop (reason: LeaveReason, code: number, text: string, terminate?: boolean): void
  /** Leaves its pool, if in one. */
  leave (reason: LeaveReason): Promise<void>
  /** Heartbeat tick. */
  beat (): void
  /** Drain: closes the socket after its queued frames (1012, then suspended when resumable; 1001, and it leaves, otherwise). */
  shutdown (): Promise<void>
  /** A suspended member leaves for good. */
  end (reason: LeaveReason): Promise<void>
  /** Resumed on another process: let go here without a leave; its frames after `received` (null when not all kept). */
  moveAway (received: number, node: string): Handover | null
}

/**
 * What this process knows of the cluster: the connections it serves (by peer id), its view of
 * every pool one of them is in, and the pools' `allows` rules. It is the adapter's host: the
 * adapter calls `apply*` to bring views and local members up to date, and every frame to a
 * member goes out through `write` (local) or `route` (local or through the adapter).
 */
export class ClusterView implements AdapterHost {
  /** This process's id in a cluster. */
  readonly node: string = randomUUID()
  readonly log: FastifyBaseLogger
  readonly #adapter: Adapter
  readonly #events: ManagerEmitter
  readonly #connections = new Map<string, Connection>()
  /** Suspended members of this process (socket gone, waiting for a resume), by peer id. */
  readonly #suspended = new Map<string, Connection>()
  readonly #views = new Map<string, PoolView>()
  readonly #rules = new Map<string, AllowsRule>()
  readonly #emptied = new Set<() => void>()
  readonly #unsuspended = new Set<() => void>()
  /** Relayed frames from other processes dropped because their target's queue was full. */
  #busyDrops = 0

  constructor (adapter: Adapter, events: ManagerEmitter, log: FastifyBaseLogger) {
    this.#adapter = adapter
    this.#events = events
    this.log = log
  }

  // ---------------------------------------------------------------------------------------------
  // Connections of this process

  add (connection: Connection): void {
    this.#connections.set(connection.endpoint.id, connection)
  }

  remove (id: string): void {
    this.#connections.delete(id)
    if (this.#connections.size > 0) return
    for (const resolve of this.#emptied) resolve()
    this.#emptied.clear()
  }

  connection (id: string): Connection | undefined {
    return this.#connections.get(id)
  }

  /** A connection, or a suspended member, of this process. */
  endpoint (id: string): Endpoint | undefined {
    return (this.#connections.get(id) ?? this.#suspended.get(id))?.endpoint
  }

  /** Its socket is gone: no longer a connection, still a member (until it resumes or leaves). */
  suspend (connection: Connection): void {
    this.#suspended.set(connection.endpoint.id, connection)
    this.remove(connection.endpoint.id)
  }

  /** A suspended member resumed (a connection again), moved away or left. */
  unsuspend (connection: Connection, resumed: boolean): void {
    this.#suspended.delete(connection.endpoint.id)
    if (resumed) this.add(connection)
    this.#noneSuspended()
  }

  #noneSuspended (): void {
    if (this.#suspended.size > 0) return
    for (const resolve of this.#unsuspended) resolve()
    this.#unsuspended.clear()
  }

  /** Resolves when no member of this process is suspended. */
  whenNoneSuspended (): Promise<void> {
    if (this.#suspended.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#unsuspended.add(resolve))
  }

  /** Whether a member of this process is suspended. */
  isSuspended (id: string): boolean {
    return this.#suspended.has(id)
  }

  suspended (): IterableIterator<Connection> {
    return this.#suspended.values()
  }

  connections (): IterableIterator<Connection> {
    return this.#connections.values()
  }

  /** Open connections and pools this process has a view of. */
  stats (): { connections: number, pools: number } {
    return { connections: this.#connections.size, pools: this.#views.size }
  }

  /** Suspended members of this process. */
  suspendedCount (): number {
    return this.#suspended.size
  }

  /** Members connected to this process (its connections that are in a pool). */
  localMembers (): number {
    let count = 0
    for (const view of this.#views.values()) count += view.localCount
    return count
  }

  /** Resolves when no connection is left. */
  whenEmpty (): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#emptied.add(resolve))
  }

  // ---------------------------------------------------------------------------------------------
  // Pool rules, kept by name: they outlive a view that is dropped and made again

  setRule (pool: string, allows: AllowsRule): void {
    this.#rules.set(pool, allows)
  }

  rule (pool: string): AllowsRule | undefined {
    return this.#rules.get(pool)
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /** An endpoint's queue stayed over maxBufferedBytes for slowReaderTimeout: terminated (a close frame would wait behind the backlog). */
  slowReader (endpoint: Endpoint): void {
    endpoint.request.log.info({ peer: endpoint.id }, 'rtc: slow reader dropped (outgoing queue over maxBufferedBytes for slowReaderTimeout)')
    this.#connections.get(endpoint.id)?.drop('slow-reader', CLOSE_CODES.policy, 'slow reader', true)
  }

  /**
   * Writes one of the server's own frames to a local endpoint: always queued (the endpoint watches
   * for a slow reader). `counted: false` only for rtc:joined and rtc:resumed (and replayed frames).
   */
  write (endpoint: Endpoint, text: string, counted = true): void {
    this.#send(endpoint, text, false, counted)
  }

  /** Every write to a local endpoint: a frame written is published for metrics and tracing. */
  #send (endpoint: Endpoint, text: string, relayed: boolean, counted = true): SendVerdict {
    const verdict = endpoint.send(text, relayed, counted)
    if (verdict === 'sent' && channels.frame.hasSubscribers) publishSent(this.node, endpoint.id, text)
    return verdict
  }

  /** Writes a server frame to a member of `pool` wherever it is connected: here, or through the adapter to its process. */
  route (member: Pick<Member, 'id' | 'node' | 'endpoint'>, text: string, pool: string): void {
    const local = member.endpoint ?? (member.node === this.node ? this.endpoint(member.id) : undefined)
    if (local !== undefined) this.write(local, text)
    else this.#adapter.forward(member.node, member.id, text, pool)
  }

  /**
   * Relays a member's frame to another member: false when the target is local and its queue has
   * no room for it (the sender gets peer-busy). A remote target's process applies the same rule
   * when the frame arrives (`deliver`).
   */
  relay (member: Member, text: string, pool: string): boolean {
    const local = member.endpoint
    if (local === undefined) {
      this.#adapter.forward(member.node, member.id, text, pool)
      return true
    }
    return this.#send(local, text, true) !== 'busy'
  }

  // ---------------------------------------------------------------------------------------------
  // AdapterHost: applying cluster state to this process's views and local members

  view (name: string): PoolView | undefined {
    return this.#views.get(name)
  }

  views (): IterableIterator<PoolView> {
    return this.#views.values()
  }

  applyPool (settings: PoolSettings): PoolView {
    let view = this.#views.get(settings.name)
    if (view === undefined) {
      view = new PoolView(settings)
      this.#views.set(settings.name, view)
    }
    return view
  }

  applyJoin (poolName: string, info: MemberInfo, seq?: number): void {
    const view = this.#views.get(poolName)
    if (view === undefined || !fresh(view, seq) || view.members.has(info.id)) return
    const endpoint = info.node === this.node ? this.endpoint(info.id) : undefined
    if (endpoint !== undefined) {
      endpoint.attach(poolName)
      const descriptions: Record<string, Description> = {}
      for (const m of view.members.values()) descriptions[m.id] = m.description
      descriptions[info.id] = info.description
      // A resumable member's frames are counted from here on (rtc:joined itself is not).
      const resume = endpoint.resumable?.issue(poolName, info.id) ?? null
      this.write(endpoint, joinedMessage(info.id, poolName, Array.from(view.members.keys()), descriptions, endpoint.ice, resume), false)
    }
    const peer = peerMessage(info.id, info.description)
    // rtcpool 3.x ignores rtc:peer's description: a non-null one is repeated as rtc:describe (rule 7).
    const describe = info.description === null ? null : describeMessage(info.id, info.description)
    for (const m of view.members.values()) {
      if (m.endpoint === undefined) continue
      this.write(m.endpoint, peer)
      if (describe !== null) this.write(m.endpoint, describe)
    }
    view.add({ id: info.id, description: info.description, node: info.node, endpoint })
  }

  applyLeave (poolName: string, id: string, seq?: number): void {
    const view = this.#views.get(poolName)
    if (view === undefined || !fresh(view, seq)) return
    const member = view.remove(id)
    if (member === undefined) return
    if (member.endpoint?.pool === poolName) this.#detach(member.endpoint)
    const text = closeMessage(id)
    for (const m of view.members.values()) if (m.endpoint !== undefined) this.write(m.endpoint, text)
    if (view.persistent) return
    if (view.size === 0) {
      this.#views.delete(poolName)
      this.#events.emit('pool-closed', { pool: poolName, reason: 'empty' })
    } else if (view.localCount === 0) {
      this.#views.delete(poolName) // no local member left to serve: stop tracking a pool that lives on elsewhere
    }
  }

  applyDescribe (poolName: string, id: string, description: Description, seq?: number): void {
    const view = this.#views.get(poolName)
    if (view === undefined || !fresh(view, seq)) return
    if (view.describe(id, description) === undefined) return
    const text = describeMessage(id, description)
    for (const m of view.members.values()) if (m.endpoint !== undefined && m.id !== id) this.write(m.endpoint, text)
  }

  applyClose (poolName: string): void {
    const view = this.#views.get(poolName)
    this.#rules.delete(poolName)
    if (view === undefined) return
    this.#views.delete(poolName)
    for (const m of view.members.values()) {
      const endpoint = m.endpoint
      if (endpoint === undefined) continue
      this.#detach(endpoint)
      this.write(endpoint, STOP_MESSAGE)
      endpoint.close(CLOSE_CODES.normal, 'pool closed')
      if (channels.leave.hasSubscribers) channels.leave.publish({ node: this.node, peer: endpoint.id, pool: poolName, reason: 'pool-closed' })
      this.#events.emit('leave', { endpoint, pool: poolName, reason: 'pool-closed' })
    }
    this.log.info({ pool: poolName }, 'rtc: pool closed')
    this.#events.emit('pool-closed', { pool: poolName, reason: 'closed' })
  }

  applyMove (poolName: string, info: MemberInfo, seq?: number): void {
    const view = this.#views.get(poolName)
    if (view === undefined || !fresh(view, seq)) return
    const endpoint = info.node === this.node ? this.endpoint(info.id) : undefined
    endpoint?.attach(poolName)
    view.move({ id: info.id, description: info.description, node: info.node, endpoint })
    if (!view.persistent && view.localCount === 0) this.#views.delete(poolName) // no local member left to serve
  }

  handOver (id: string, received: number, node: string): Handover | null {
    const connection = this.#suspended.get(id) ?? this.#connections.get(id)
    return connection === undefined ? null : connection.moveAway(received, node)
  }

  /** A local member is out of its pool (left, kicked, pool closed): a suspended one is gone for good. */
  #detach (endpoint: Endpoint): void {
    endpoint.detach()
    if (this.#suspended.delete(endpoint.id)) this.#noneSuspended()
  }

  deliver (targetId: string, text: string): void {
    const endpoint = this.endpoint(targetId)
    if (endpoint === undefined) return
    // A frame relayed from a member on another process: its sender cannot be told, so a full queue drops it.
    if (this.#send(endpoint, text, isRelayFrame(text)) === 'busy') {
      this.log.debug({ peer: targetId, dropped: ++this.#busyDrops }, 'rtc: relayed frame from another process dropped: the target\'s queue is full')
    }
  }

  deliverForwarded (targetId: string, text: string): void {
    const resumable = this.endpoint(targetId)?.resumable
    if (resumable?.fenced === true) resumable.recordForwarded(text)
    else this.deliver(targetId, text)
  }

  kickLocal (targetId: string, reason: string): void {
    (this.#connections.get(targetId) ?? this.#suspended.get(targetId))?.drop('kicked', CLOSE_CODES.policy, reason)
  }
}

/** An adapter that numbers events sets `seq`; an event no newer than the last applied is stale. */
function fresh (view: PoolView, seq: number | undefined): boolean {
  if (seq === undefined) return true
  if (seq <= view.seq) return false
  view.seq = seq
  return true
}
