/**
 * The domain: pools, members and what can happen to them. Types only, and this file imports
 * nothing, so that every other module (options, core, adapters) can depend on it without a circle.
 */

/**
 * Declare your descriptions' type once, for the server and the browser client alike, by adding
 * a `description` member to this interface (module augmentation, as Fastify's FastifyRequest):
 *
 * ```ts
 * declare module 'fastify-rtc-signal' {
 *   interface RtcSignalTypes { description: { name: string, role?: 'staff' } }
 * }
 * ```
 *
 * (A browser-only project may augment 'fastify-rtc-signal/client' instead: it is the same interface.)
 */
export interface RtcSignalTypes {}

/**
 * A member's description: the JSON value server code attaches to it (a display name, a role), of
 * the type declared in RtcSignalTypes (any value, `unknown`, when none is declared). `null` means none.
 */
export type Description = (RtcSignalTypes extends { description: infer D } ? D : unknown) | null

/** A member as the cluster knows it (no socket). */
export interface MemberInfo {
  id: string
  description: Description
  /** Id of the process (node) the member is connected to. */
  node: string
  /**
   * `suspended`: its socket ended without a clean leave and it waits (resume.graceMs) for its
   * client to resume; `connected` otherwise. Always set in `rtcPools.get()`/`list()`.
   */
  state?: MemberState
}

/** Whether a member's socket is open, or the member waits for its client to resume. */
export type MemberState = 'connected' | 'suspended'

export interface PoolSettings {
  name: string
  /** Member limit of this pool. */
  maxMembers: number
  /** Created by server code: lives until closed. Pools made by a public join vanish when empty. */
  persistent: boolean
}

/** A snapshot of a pool for server code (`rtcPools.get`, `rtcPools.list`). */
export interface PoolInfo extends PoolSettings {
  /** In join order. */
  members: MemberInfo[]
}

/** Why a connection left its pool; given to `leave` listeners and logged. */
export type LeaveReason = 'closed' | 'heartbeat' | 'kicked' | 'slow-reader' | 'rate-limited' | 'pool-closed' | 'shutdown' | 'error'
  /** A suspended member was not resumed in time (resume.graceMs), or its held frames overflowed the bounds. */
  | 'resume-expired'
  /** A suspended member's resume failed (the join hook refused it, or missed frames were no longer known). */
  | 'resume-failed'

/** Why a pool went: closed by server code, or a public pool lost its last member. */
export type PoolClosedReason = 'closed' | 'empty'

export interface JoinPolicy {
  /** Create the pool if it does not exist (a public server). */
  create: boolean
  /** The limit given to a pool created by this join. */
  maxMembers: number
}

export type JoinOutcome =
  | { ok: true, created?: boolean }
  | { ok: false, reason: 'no-such-pool' | 'pool-full' }
  /** The bus cannot admit anyone right now (Redis unreachable): refused at once with this message. */
  | { ok: false, reason: 'join-denied', message: string }

/** One entry of `RTCConfiguration.iceServers`, as the browser takes it. */
export interface IceServer {
  urls: string | string[]
  username?: string
  credential?: string
}

/**
 * The ICE servers a member is told (`rtc:joined.ice`, `rtc:ice`): its servers, and when the
 * earliest credential expires (ms since the epoch; null: never).
 */
export interface IceServersResult {
  servers: IceServer[]
  expiresAt: number | null
}
