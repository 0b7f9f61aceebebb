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
  /**
   * Writes a frame that a member's old process passed on (a move: lib/adapters/cluster/handovers.ts):
   * while the member is being taken over here it goes before the frames sent straight here.
   */
  deliverForwarded (targetId: string, text: string): void
  /** Disconnects a local endpoint (kick from another process). */
  kickLocal (targetId: string, reason: string): void
  /**
   * A member moved to `member.node` (a resume there): its peers are not told anything; frames to
   * it go there from now on. Here, for the process it moved to, its local endpoint becomes the member.
   */
  applyMove (pool: string, member: MemberInfo, seq?: number): void
  /**
   * A member of this process moved to process `node` (its resume there): it is let go here without
   * a leave. Its frames after `received`, or null when they are not all kept (or it is not here).
   */
  handOver (id: string, received: number, node: string): Handover | null
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
  /**
   * Relays a serialized frame to a member connected to another process. Order per (sender, target)
   * is kept. `pool` is the target's pool: a sharded backend sends the frame through that pool's
   * shard, in order with the pool's membership events.
   */
  forward (node: string, targetId: string, text: string, pool: string): void
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

  /*
   * Optional: resume on another process (docs/protocol.md, "Resume after a blip"). An adapter that
   * spans processes keeps each resumable member's token hash with its membership, so that a
   * resume can land on any process: `claim` moves the member there and brings the frames its old
   * process held for it (the `handover`). Without them a member resumes only on its own process.
   */
  /** A member of this process was suspended, or is not any more (resumed here): `pool()`/`pools()` report it on every process. Best effort. */
  markSuspended? (pool: string, id: string, suspended: boolean): void
  /** A resumable member's current token, as its SHA-256 (the previous one dies). Best effort. */
  resumeToken? (pool: string, id: string, tokenHash: string): void
  /**
   * Takes over, for this process, the member of `pool` whose token has this hash: atomically (the
   * token is single use); the member moves here (`applyMove` on every process: its peers see
   * nothing) and its old process hands over the frames after `received`.
   */
  claim? (pool: string, id: string, tokenHash: string, received: number): Promise<ClaimResult>
}

/** A suspended member's frames, handed to the process it resumes on: its count of frames sent, and those after the client's `received`. */
export interface Handover {
  sent: number
  frames: string[]
}

/** How a claim (a resume on another process) ended: the member is here now with its frames, or why not. */
export type ClaimResult =
  | ({ ok: true } & Handover)
  /** `unknown-token`: no suspended member with that token (it left, it was taken, its process is dead); `frames-lost`: it moved here, but its frames are not all known (it must leave). */
  | { ok: false, result: 'unknown-token' | 'frames-lost' }
