import type { FastifyBaseLogger } from 'fastify'
import type { PoolView } from '../core/pool-view'
import type { Description, JoinOutcome, JoinPolicy, MemberInfo, PoolInfo, PoolSettings } from '../types'

export type { JoinOutcome, JoinPolicy, MemberInfo }

/**
 * What the core offers its adapter (lib/core/cluster-view.ts). The adapter calls the `apply*` methods on every process
 * that has a view of the pool (including the one that made the change) to bring its view and its
 * local members up to date. Each `apply*` is idempotent, and ignores an event whose `seq` is not
 * newer than the last one applied to that pool when the adapter numbers events.
 */
export interface AdapterHost {
  /** This process's id in the cluster. */
  readonly node: string
  readonly log: FastifyBaseLogger
  /** This process's view of a pool, if it has one. */
  view (name: string): PoolView | undefined
  /** Every pool this process has a view of. */
  views (): IterableIterator<PoolView>
  /** A pool now exists (created by server code or by a public join): make a view if there is none. */
  applyPool (settings: PoolSettings): PoolView
  /** A member joined. For a local endpoint that is joining, this also sends its `rtc:joined`. */
  applyJoin (pool: string, member: MemberInfo, seq?: number): void
  /** A member left: its peers here get `rtc:close`. */
  applyLeave (pool: string, id: string, seq?: number): void
  /** A member's description changed: its peers here get `rtc:describe`. */
  applyDescribe (pool: string, id: string, description: Description, seq?: number): void
  /** The pool was closed: local members get `rtc:stop` and are disconnected. */
  applyClose (pool: string): void
  /** Writes a serialized frame to a local endpoint (relay from another process). */
  deliver (targetId: string, text: string): void
  /** Disconnects a local endpoint (kick from another process). */
  kickLocal (targetId: string, reason: string): void
}

/**
 * The bus that makes several processes one signalling cluster. The in-memory adapter (default)
 * is a single process; `redisAdapter()` spans processes. Every method that changes membership
 * must be atomic cluster-wide and must call the matching `apply*` on this process before its
 * promise resolves (so the caller sees its own change), and on every other process with a view.
 */
export interface Adapter {
  /** Called once when the plugin registers. */
  attach (host: AdapterHost): Promise<void>
  /** Creates a persistent pool; false if one by that name exists. */
  createPool (settings: PoolSettings): Promise<boolean>
  /** Closes a pool everywhere; false if there is no such pool. */
  closePool (name: string): Promise<boolean>
  /** Admits a member, atomically checking existence and the member limit. */
  join (pool: string, member: MemberInfo, policy: JoinPolicy): Promise<JoinOutcome>
  /** Removes a member (no-op if it is not there). */
  leave (pool: string, id: string): Promise<void>
  /** Sets a member's description. */
  describe (pool: string, id: string, description: Description): Promise<void>
  /** Relays a serialized frame to a member connected to another process. Order per (sender, target) is kept. */
  forward (node: string, targetId: string, text: string): void
  /** Asks the process a member is connected to to disconnect it. */
  kick (node: string, targetId: string, reason: string): Promise<void>
  /** Where a member is: its pool and process; null if unknown. */
  locate (id: string): Promise<{ pool: string, node: string } | null>
  /** A pool's snapshot, or null. */
  pool (name: string): Promise<PoolInfo | null>
  /** Every pool's snapshot. */
  pools (): Promise<PoolInfo[]>
  /** Releases connections and timers (idempotent). */
  close (): Promise<void>
}

/**
 * PLANNED (issue 11, phase 2), not called by the core yet: what an adapter offers to keep
 * suspended members cluster-wide, so that a resume works on any process, also after the one the
 * member was on was stopped (drain) or SIGKILLed. `redisAdapter()` would keep each record as
 * hashes and a list under the cluster prefix, expiring at `expiresAt`, bounded by the `resume`
 * option's maxFrames/maxBytes. With it, the core would:
 *
 * - on suspension, hand the member's count and ring over (`suspend`) instead of holding frames
 *   itself; from then on every process routes frames for the member to the store (`hold`, in
 *   the pool's event order, so rules 4 and 9 hold across the gap);
 * - on `rtc:resume`, on whatever process, `claim` the member by its token's hash: one atomic
 *   step that takes the token (single use), checks `received` against the count and the oldest
 *   frame kept, moves the member to the claiming process (an event every process applies, so
 *   relays find it there) and returns the frames to replay;
 * - on grace expiry (any survivor, as liveness does) or a kick/closePool, `drop` the record and
 *   let the member leave (peers get one rtc:close).
 *
 * A member whose process died while it was connected has no record (its ring was in that
 * process's memory): the frames it was sent but never received cannot be known, so its resume is
 * `resume-failed` and the client rejoins, never a silent gap.
 */
export interface SuspensionStore {
  /** Keeps a suspended member: its token's SHA-256, its count since rtc:joined, its ring (oldest first), until `expiresAt` (ms since the epoch). */
  suspend (pool: string, member: MemberInfo, record: { tokenHash: string, sent: number, frames: readonly string[], expiresAt: number }): Promise<void>
  /** Appends a frame for a suspended member; false when the bounds overflowed (the member must leave). */
  hold (pool: string, id: string, text: string): Promise<boolean>
  /** Takes the member a token names and moves it to `node`, with the frames after `received`; or why not. */
  claim (tokenHash: string, received: number, node: string): Promise<
    | { ok: true, pool: string, member: MemberInfo, sent: number, frames: string[] }
    | { ok: false, result: 'unknown-token' | 'expired' | 'frames-lost' }>
  /** Forgets a suspended member (it left, or its grace period ended). */
  drop (pool: string, id: string): Promise<void>
}
