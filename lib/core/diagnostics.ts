import diagnostics from 'node:diagnostics_channel'
import type { Adapter } from '../adapters/adapter'
import type { Reason } from '../protocol'
import type { LeaveReason } from '../types'

/**
 * Facts the server publishes on `node:diagnostics_channel`, for tracing and for the metrics
 * (lib/metrics subscribes to them). Publishing costs nothing while nobody subscribes: every call
 * site checks `hasSubscribers` first. Payloads carry ids and pool names (they are never metric
 * labels) and never an SDP, a candidate, a token or a description. Every payload has `node`, the
 * server's id (`fastify.rtcPools.node`), so that a subscriber can tell two servers of one process
 * apart. Facts are published on the process the connection is on, synchronously, when the thing
 * has happened.
 */
export const CHANNELS = {
  /** A WebSocket connection opened, was refused before or at the upgrade, or closed. */
  connection: 'fastify-rtc-signal:connection',
  /** The outcome of an `rtc:join`: `ok` (the member got `rtc:joined`) or the refusal's reason. */
  join: 'fastify-rtc-signal:join',
  /** A member of this process left its pool. */
  leave: 'fastify-rtc-signal:leave',
  /** A member's `rtc:sdp` or `rtc:candidate` was relayed to a member of its pool. */
  relay: 'fastify-rtc-signal:relay',
  /** An `rtc:error` was sent. */
  error: 'fastify-rtc-signal:error',
  /** A frame was received from, or written to, a socket. */
  frame: 'fastify-rtc-signal:frame',
  /** The join hook or a pool's `allows` rule answered. */
  hook: 'fastify-rtc-signal:hook',
  /** A socket answered the heartbeat's ping. */
  heartbeat: 'fastify-rtc-signal:heartbeat',
  /** A call to the adapter failed. */
  adapter: 'fastify-rtc-signal:adapter',
  /** ICE servers (TURN credentials) were issued to a member, for its rtc:joined or an rtc:ice refresh. */
  ice: 'fastify-rtc-signal:ice',
  /** A resumable member was suspended, resumed (or its resume failed), or its grace period ended. */
  resume: 'fastify-rtc-signal:resume'
} as const

/** Why a connection did not become a session: the answer before the upgrade, or a server that is closing. */
export type ConnectionRefusal =
  | 'origin-denied' | 'auth-denied' | 'bad-request' | 'not-found' | 'upgrade-required' | 'limit' | 'shutting-down' | 'other'

export type ConnectionFact =
  /** The upgrade went through: a session with this id. `pool` is the pool named in the URL, if any. */
  | { node: string, event: 'open', peer: string, pool: string | null }
  /** No session: `statusCode` is the HTTP answer (101 for a socket closed at once because the server is closing). */
  | { node: string, event: 'refused', result: ConnectionRefusal, statusCode: number }
  /** The socket closed (either side), with this close code. */
  | { node: string, event: 'close', peer: string, code: number }

export interface JoinFact {
  node: string
  peer: string
  /** The pool joined, or the one asked for (or mapped to) by a refused join; null when it could not be read. */
  pool: string | null
  /** `ok`, or the `reason` of the `rtc:error` that answered the join. */
  result: 'ok' | Reason
  /** From the `rtc:join` frame to `rtc:joined`; null for a refusal. */
  seconds: number | null
}

export interface LeaveFact {
  node: string
  peer: string
  pool: string
  reason: LeaveReason
}

/** The `type` of a relayed session description, from a fixed set (anything else is `other`). */
export type SdpType = 'offer' | 'answer' | 'pranswer' | 'rollback' | 'other'

export interface RelayFact {
  node: string
  pool: string
  from: string
  to: string
  type: 'sdp' | 'candidate'
  /** For `sdp`: the description's type; null for a candidate. */
  sdpType: SdpType | null
  /** The target is connected to this process (false: forwarded to another process through the adapter). */
  local: boolean
}

export interface ErrorFact {
  node: string
  peer: string
  reason: Reason
  /** The refused frame's type, when it could be read. */
  type: string | null
}

/** A frame's kind, from a fixed set: `join` is `rtc:join` in and `rtc:joined` out, `event` an application event. */
export type FrameKind = 'sdp' | 'candidate' | 'join' | 'event' | 'other'

export interface FrameFact {
  node: string
  peer: string
  direction: 'in' | 'out'
  kind: FrameKind
  /** Bytes of the WebSocket payload (UTF-8). */
  bytes: number
}

export interface HookFact {
  node: string
  peer: string
  /** The pool asked for (join hook) or the pool whose rule was asked (allows). */
  pool: string
  hook: 'join-hook' | 'allows'
  result: 'allowed' | 'denied' | 'error' | 'timeout'
  seconds: number
}

export interface HeartbeatFact {
  node: string
  peer: string
  /** From the ping to its pong. */
  seconds: number
}

/** The adapter's methods the core calls (plus, for adapters that report their own trouble, `connection`, `forward`, `apply`). */
export type AdapterOp = 'attach' | 'createPool' | 'closePool' | 'join' | 'leave' | 'describe' | 'kick' | 'locate' | 'pool' | 'pools' | 'close'
  | 'connection' | 'forward' | 'apply'

export interface AdapterFact {
  node: string
  op: AdapterOp
  error: unknown
}

export interface IceFact {
  node: string
  peer: string
  /** How many ICE servers were handed over. */
  servers: number
  /** When the earliest credential expires (ms since the epoch), or null. */
  expiresAt: number | null
}

/** The outcome of an `rtc:resume`. */
export type ResumeResult = 'resumed' | 'unknown-token' | 'expired' | 'frames-lost' | 'denied' | 'throttled'

export interface ResumeFact {
  node: string
  /**
   * `suspend`: the socket ended, the member waits; `resume`: an rtc:resume was answered (`result`);
   * `expire`: the grace period ended (or held frames overflowed); `handover`: it resumed on another
   * process, which this one handed its held frames to (`replayed`: how many; -1 when they were lost).
   */
  event: 'suspend' | 'resume' | 'expire' | 'handover'
  /** The member; null for a resume whose token named nobody. */
  peer: string | null
  pool: string | null
  /** For `resume`; null otherwise. */
  result: ResumeResult | null
  /** Frames replayed by a successful resume. */
  replayed: number
}

interface Channel<T> {
  readonly hasSubscribers: boolean
  publish (message: T): void
}

const channel = <T>(name: string): Channel<T> => diagnostics.channel(name) as Channel<T>

/** The channels, held here so that they live as long as the process (a subscriber is never lost to GC). */
export const channels = {
  connection: channel<ConnectionFact>(CHANNELS.connection),
  join: channel<JoinFact>(CHANNELS.join),
  leave: channel<LeaveFact>(CHANNELS.leave),
  relay: channel<RelayFact>(CHANNELS.relay),
  error: channel<ErrorFact>(CHANNELS.error),
  frame: channel<FrameFact>(CHANNELS.frame),
  hook: channel<HookFact>(CHANNELS.hook),
  heartbeat: channel<HeartbeatFact>(CHANNELS.heartbeat),
  adapter: channel<AdapterFact>(CHANNELS.adapter),
  ice: channel<IceFact>(CHANNELS.ice),
  resume: channel<ResumeFact>(CHANNELS.resume)
}

/** The kind of a received frame, by its type (undefined when it could not be read). */
export function receivedKind (type: string | undefined): FrameKind {
  switch (type) {
    case 'rtc:sdp': return 'sdp'
    case 'rtc:candidate': return 'candidate'
    case 'rtc:join': return 'join'
    case undefined: return 'other'
  }
  return type.startsWith('rtc:') ? 'other' : 'event'
}

const TYPE_AT = '{"type":"'.length
const NAME_AT = TYPE_AT + 'rtc:'.length
const [R, T, C, COLON, S, D, A, J] = ['r', 't', 'c', ':', 's', 'd', 'a', 'j'].map((c) => c.charCodeAt(0))

/**
 * The kind of a frame the server writes, read from its first characters: every server frame is
 * built by lib/protocol.ts as `{"type":"...` (application events too), and the server's `rtc:` types
 * differ by their first two letters (`sdp`/`stop`, `candidate`/`close`, `joined`), so this needs no
 * parsing (a few charCodeAt, per frame written).
 */
export function sentKind (text: string): FrameKind {
  if (text.charCodeAt(TYPE_AT) !== R || text.charCodeAt(TYPE_AT + 1) !== T || text.charCodeAt(TYPE_AT + 2) !== C || text.charCodeAt(TYPE_AT + 3) !== COLON) {
    return 'event'
  }
  const first = text.charCodeAt(NAME_AT)
  const second = text.charCodeAt(NAME_AT + 1)
  if (first === S && second === D) return 'sdp'
  if (first === C && second === A) return 'candidate'
  if (first === J) return 'join'
  return 'other'
}

/** A written frame's fact; only called when the frame channel has subscribers. */
export function publishSent (node: string, peer: string, text: string): void {
  channels.frame.publish({ node, peer, direction: 'out', kind: sentKind(text), bytes: Buffer.byteLength(text) })
}

export function sdpType (type: string): SdpType {
  return type === 'offer' || type === 'answer' || type === 'pranswer' || type === 'rollback' ? type : 'other'
}

/** A refusal before the upgrade, from the HTTP status it was answered with. */
export function refusalOf (statusCode: number, originDenied: boolean): ConnectionRefusal {
  if (originDenied) return 'origin-denied'
  switch (statusCode) {
    case 400: return 'bad-request'
    case 401:
    case 403: return 'auth-denied'
    case 404: return 'not-found'
    case 426: return 'upgrade-required'
    case 429:
    case 503: return 'limit'
  }
  return 'other'
}

/** Publishes a failed adapter call (for adapters reporting their own trouble, e.g. a lost connection). */
export function publishAdapterError (node: string, op: AdapterOp, error: unknown): void {
  if (channels.adapter.hasSubscribers) channels.adapter.publish({ node, op, error })
}

const CALLS = ['attach', 'createPool', 'closePool', 'join', 'leave', 'describe', 'kick', 'locate', 'pool', 'pools', 'close'] as const satisfies ReadonlyArray<keyof Adapter & AdapterOp>

/**
 * The adapter as the core calls it: each call that rejects (or throws) is published on the
 * adapter channel, then fails as before. The promise handed back is the adapter's own, so no
 * caller sees a change in timing. `forward` (synchronous, per relayed frame) is passed through.
 */
export function observeAdapter (adapter: Adapter, node: () => string): Adapter {
  const observed: Adapter = Object.create(adapter)
  for (const op of CALLS) {
    const call = adapter[op] as (...args: unknown[]) => Promise<unknown>
    const failed = (error: unknown): void => publishAdapterError(node(), op, error)
    ;(observed as unknown as Record<string, unknown>)[op] = function (...args: unknown[]): Promise<unknown> {
      let promise: Promise<unknown>
      try {
        promise = call.apply(adapter, args)
      } catch (err) {
        failed(err)
        throw err
      }
      promise.catch(failed)
      return promise
    }
  }
  observed.forward = (target, id, text, pool) => adapter.forward(target, id, text, pool)
  return observed
}
