import type { FastifyBaseLogger } from 'fastify'
import type { Adapter, AdapterHost, Handover, MemberInfo } from '../adapter'

/*
 * What the cluster core (ClusterAdapter) needs from a backend: atomic membership operations that
 * number their events (one counter, or one per pool), a channel per pool that carries those events in order, a
 * channel per process for relay, and liveness keys. Redis is one backend (../redis/transport.ts);
 * ordering, pending joins, resync and liveness live in this folder and are the same for every one.
 *
 * The domain types are taken from the adapter contract (../adapter.ts), so this folder depends on
 * nothing else in lib/.
 */

export type { Handover }
export type Description = MemberInfo['description']
export type PoolSettings = Parameters<AdapterHost['applyPool']>[0]
export type PoolInfo = NonNullable<Awaited<ReturnType<Adapter['pool']>>>
/** This process's view of a pool, as the host keeps it. */
export type View = NonNullable<ReturnType<AdapterHost['view']>>

/** A pool as the backend holds it, at event `seq` of its counter. */
export interface Snapshot {
  seq: number
  settings: PoolSettings
  /** In join order. */
  members: MemberInfo[]
}

/** A membership change, numbered from the counter of the cluster or of the pool (a pool's stream order is `seq` order). */
export type PoolEvent =
  /** `moved`: not a new member but a suspended one taken over by `member.node` (its resume there), from `from`, which hands its frames after `received` over. */
  | { type: 'join', seq: number, member: MemberInfo, moved?: { from: string, received: number } }
  | { type: 'leave', seq: number, id: string }
  | { type: 'describe', seq: number, id: string, description: Description }
  | { type: 'close', seq: number }

/**
 * What one process sends another: a frame to deliver to a local endpoint of `pool`, a kick, or,
 * when a suspended member moves (a resume on another process): the frames its old process held
 * for it (null: they are not all known any more), frames and fences passed on by the old process.
 */
export type NodeMessage =
  | { type: 'deliver', pool: string, target: string, text: string }
  | { type: 'kick', target: string, reason: string }
  | { type: 'handover', pool: string, target: string, held: Handover | null }
  /** A frame for a member that moved away, passed on by its old process (it came there before the sender heard of the move). */
  | { type: 'forward', pool: string, target: string, text: string }
  /** Process `node` heard that `target` moved: sent to its old process, which passes it on after that process's earlier frames. */
  | { type: 'fence', pool: string, target: string, node: string }

export type ClaimReply =
  /** The member is now on the claiming process (its moved join event is on its way); `snapshot`: its pool. */
  | { status: 'ok', from: string, member: MemberInfo, snapshot: Snapshot }
  /** No suspended member with that token in that pool (never, or no longer: it left, or it was taken). */
  | { status: 'unknown' }

/** One item of the ordered stream a process receives: an event of a subscribed pool, or a message to it. */
export type Inbound = { type: 'pool', pool: string, event: PoolEvent } | NodeMessage

export type JoinReply =
  /** `ok`: admitted now (its event is on its way); `present`: it was a member already. */
  | { status: 'ok' | 'present', created: boolean, snapshot: Snapshot | null }
  /** `elsewhere`: that id is a member of another pool or process. */
  | { status: 'no-such-pool' | 'pool-full' | 'elsewhere' }

export interface HeartbeatReply {
  /** False when the backend did not list this process (first beat, reaped as dead, or data lost). */
  known: boolean
  /** A value set once per data set: a different one means the backend lost its data. */
  epoch: string
  /**
   * The event counter now: below an event already seen means the backend lost its data. Null when
   * the backend numbers each pool's events on its own (Redis Cluster): its `known` and `epoch` tell.
   */
  seq: number | null
}

/** What a transport reports; called in the order the backend delivered. */
export interface TransportListener {
  message (item: Inbound): void
  /** Commands and the subscriber work again (after `down`). */
  ready (): void
  /** A connection was lost. */
  down (): void
  /**
   * Only these pools' channels are in doubt (Redis Cluster: their shard's master lost, or their
   * slot moved): events and frames for them may be missed, commands in their slot may fail.
   */
  lost (pools: string[]): void
  /** These pools' channels are subscribed again (on the master that owns their slot now). */
  restored (pools: string[]): void
}

export interface Transport {
  /** For messages and log bindings: 'Redis'. */
  readonly name: string
  /** Commands and the subscriber both work (a pool's shard may still be in doubt: `lost`). */
  readonly ready: boolean
  /** Commands can be sent (the subscriber may still be reconnecting). */
  readonly writable: boolean
  /** The coded error for a call that needs the backend while it is unreachable. */
  unavailable (detail: string): Error

  /** Connects and subscribes to this process's channel; rejects (coded error) when not ready in time. */
  connect (node: string, log: FastifyBaseLogger, listener: TransportListener): Promise<void>
  /** Releases connections (idempotent; safe after a failed connect). */
  disconnect (): Promise<void>

  subscribe (pool: string): Promise<unknown>
  /** Best effort: nothing is sent while the subscriber is down. */
  unsubscribe (pool: string): void
  /** Subscribes again to this process's channel and to `pools` (after an outage). */
  resubscribe (pools: string[]): Promise<void>
  /**
   * Sends messages to another process, in order: the batch of one tick (Relay), so a backend can
   * send it as one publish (or one per pool, where pools live on different shards). Resolves with
   * how many subscribers received it (a number, or one per publish): 0 when the target process is
   * not subscribed (yet).
   */
  publish (node: string, messages: readonly NodeMessage[]): Promise<unknown>

  /** Records the SHA-256 of a resumable member's current token (its previous one dies), in its pool. */
  token (pool: string, id: string, tokenHash: string): Promise<unknown>
  /**
   * Takes over the member a token names, for a resume on `node`: atomically checks the token (and
   * that its process is alive), forgets it (single use), moves the member to `node` and publishes
   * a moved join event carrying `received`.
   */
  claim (pool: string, id: string, tokenHash: string, node: string, received: number): Promise<ClaimReply>
  /** Marks a member of this process suspended (waiting for a resume) or not, for `get()`/`list()` on every process. */
  markSuspended (pool: string, id: string, node: string, suspended: boolean): Promise<unknown>
  /** The ids of a pool's suspended members. */
  suspendedIn (pool: string): Promise<string[]>
  /** Admits a member, atomically checking existence and the limit; `create` for a public server. */
  join (pool: string, member: MemberInfo, create: boolean, maxMembers: number): Promise<JoinReply>
  /**
   * Removes a member of this process (from `pool`, or from whichever pool when null): seq of its
   * event, 0 if absent, -1 if it is another process's now (it moved there: a resume).
   */
  leave (pool: string | null, id: string): Promise<number>
  /** Seq of the describe event, 0 when the member is not in that pool. */
  describe (pool: string, id: string, description: Description): Promise<number>
  /** Creates a persistent pool: a seq, or 0 when one by that name exists. */
  create (settings: PoolSettings): Promise<number>
  /** Closes a pool: seq of its event, 0 when there is no such pool. */
  close (pool: string): Promise<number>
  /** A pool at the current seq, or null. */
  snapshot (pool: string): Promise<{ seq: number, snapshot: Snapshot | null }>
  /** Every pool. */
  list (): Promise<Snapshot[]>
  locate (id: string): Promise<{ pool: string, node: string } | null>
  /** Refreshes this process's liveness for `ttl` ms; sets the epoch to `epochCandidate` if there is none (pass a fresh one each time). */
  heartbeat (node: string, ttl: number, epochCandidate: string): Promise<HeartbeatReply>
  /** Removes the members of processes whose liveness expired (or of `node`, now): what was removed. */
  reap (node?: string): Promise<Array<{ node: string, members: number }>>
  /** Ids the backend lists as connected to `node`. */
  nodeMembers (node: string): Promise<string[]>
}
