/**
 * ssp-v2 on the wire: frame parsing and validation, the messages the server sends, the `reason` codes.
 * Pure functions over strings and plain objects: no sockets, no Fastify.
 */
import type { IceServersResult } from './types'

/** Every `reason` an `rtc:error` can carry (docs/protocol.md, "Error reasons"). */
export const REASONS = [
  'invalid-json',
  'invalid-frame',
  'unknown-action',
  'missing-pool',
  'no-such-pool',
  'join-denied',
  'pool-full',
  'already-joined',
  'not-joined',
  'missing-target',
  'unknown-peer',
  'invalid-description',
  'rate-limited',
  'peer-busy',
  'resume-failed'
] as const

export type Reason = typeof REASONS[number]

/** Plain-language text for each reason; an `rtc:error` may override it with something more specific. */
export const REASON_MESSAGES: Readonly<Record<Reason, string>> = {
  'invalid-json': 'The frame is not valid JSON',
  'invalid-frame': 'A frame must be a JSON object {"type": string, "data": object} sent as text',
  'unknown-action': 'The protocol has no such rtc: message',
  'missing-pool': 'rtc:join needs a non-empty pool name within the length limit, in well-formed Unicode',
  'no-such-pool': 'That pool does not exist',
  'join-denied': 'The join was refused',
  'pool-full': 'The pool is at its member limit',
  'already-joined': 'This connection is already in a pool',
  'not-joined': 'Join a pool first',
  'missing-target': 'rtc:sdp needs "to" and rtc:candidate needs "for"',
  'unknown-peer': 'The target is not a member of your pool',
  'invalid-description': 'rtc:sdp needs a description object with string "type" and "sdp"',
  'rate-limited': 'Too many frames: slow down',
  'peer-busy': 'The peer is not reading fast enough: the frame was not relayed; send it again later',
  'resume-failed': 'This session cannot be resumed (unknown or expired token, or missed frames no longer known): join again'
}

export type FrameData = Record<string, unknown>

export interface Frame {
  type: string
  data: FrameData
}

export interface FrameError {
  reason: Reason
  /** The frame's type when it could be read, for the error's context. */
  type?: string
}

export type ParseResult = Frame | FrameError

export function isFrameError (r: ParseResult): r is FrameError {
  return (r as FrameError).reason !== undefined
}

export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Parses one text frame. Never throws. */
export function parseFrame (text: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { reason: 'invalid-json' }
  }
  if (!isObject(value)) return { reason: 'invalid-frame' }
  const { type, data } = value
  if (typeof type !== 'string' || type.length === 0) return { reason: 'invalid-frame' }
  if (!isObject(data)) return { reason: 'invalid-frame', type }
  return { type, data }
}

/** True for the types the protocol reserves: application events may not use them. */
export function isProtocolType (type: string): boolean {
  return type.startsWith('rtc:')
}

/** An `rtc:sdp` description: an object with string `type` and `sdp`, relayed as sent. */
export function isSessionDescription (value: unknown): value is { type: string, sdp: string } {
  return isObject(value) && typeof value.type === 'string' && typeof value.sdp === 'string'
}

/** An ICE candidate object, or `null` at the end of gathering. */
export function isCandidate (value: unknown): value is Record<string, unknown> | null {
  return value === null || isObject(value)
}

/**
 * A pool name: a non-empty string of at most `maxLength` characters, well-formed Unicode (no lone
 * surrogate, which Redis would store as U+FFFD: another name). The same rule for frames, URLs and
 * server code, on every adapter.
 */
export function isPoolName (value: unknown, maxLength: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength && isWellFormed(value)
}

/** String.prototype.isWellFormed (Node 20; ES2024, newer than this project's TypeScript lib). */
function isWellFormed (value: string): boolean {
  return (value as unknown as { isWellFormed: () => boolean }).isWellFormed()
}

/** A peer id a client names: any non-empty string (an unknown one is `unknown-peer`, not malformed). */
export function isPeerId (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/** WebSocket close codes the server uses (RFC 6455 and ws). */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  serviceRestart: 1012
} as const

// ---------------------------------------------------------------------------------------------
// Messages the server sends. Each returns the serialized frame, built once and written as is.

function frame (type: string, data: unknown): string {
  return JSON.stringify({ type, data })
}

/** What `rtc:joined.resume` tells a member that joined with `resume: true` (docs/protocol.md, "Resume after a blip"). */
export interface ResumeOffer {
  token: string
  graceMs: number
}

/**
 * `ice` (docs/protocol.md, "ICE servers from the server") only when the server has ICE servers for
 * this member; `resume` only for a member that asked to be resumable.
 */
export function joinedMessage (clientId: string, pool: string, peers: readonly string[], descriptions: Record<string, unknown>, ice: IceServersResult | null = null, resume: ResumeOffer | null = null): string {
  const data: Record<string, unknown> = { client_id: clientId, peers, descriptions, pool }
  if (ice !== null) data.ice = ice
  if (resume !== null) data.resume = resume
  return frame('rtc:joined', data)
}

/** The answer to a successful `rtc:resume`: the same id and pool, a new token. */
export function resumedMessage (clientId: string, pool: string, token: string): string {
  return frame('rtc:resumed', { client_id: clientId, pool, token })
}

/** Fresh ICE servers for a member (`rtc:ice`): the same `{ servers, expiresAt }` as `rtc:joined.ice`. */
export function iceMessage (ice: IceServersResult): string {
  return frame('rtc:ice', ice)
}

export function peerMessage (id: string, description: unknown): string {
  return frame('rtc:peer', { id, description })
}

export function closeMessage (id: string): string {
  return frame('rtc:close', { id, uid: id })
}

export function describeMessage (id: string, description: unknown): string {
  return frame('rtc:describe', { id, uid: id, description })
}

export const STOP_MESSAGE = frame('rtc:stop', {})

const SDP_HEAD = '{"type":"rtc:sdp","data":{"peer":"'
const CANDIDATE_HEAD = '{"type":"rtc:candidate","data":{"from":"'

/** Relayed `rtc:sdp`. Ids are server-made UUIDs, so they need no escaping. */
export function sdpMessage (from: string, description: unknown): string {
  return SDP_HEAD + from + '","description":' + JSON.stringify(description) + '}}'
}

/** Relayed `rtc:candidate`. */
export function candidateMessage (from: string, candidate: unknown): string {
  return CANDIDATE_HEAD + from + '","candidate":' + JSON.stringify(candidate) + '}}'
}

/** True for a frame built by sdpMessage or candidateMessage (one member's frame to another, not the server's own). */
export function isRelayFrame (text: string): boolean {
  return text.startsWith(SDP_HEAD) || text.startsWith(CANDIDATE_HEAD)
}

export interface ErrorContext {
  type?: string
  pool?: string
  to?: string
  [key: string]: unknown
}

/** Longest client string an `rtc:error` echoes (in its context or its message). */
export const MAX_ECHO_LENGTH = 128

/** A client string fit to echo: at most MAX_ECHO_LENGTH characters, a longer one cut and ending with '…'. */
export function clip (value: string): string {
  if (value.length <= MAX_ECHO_LENGTH) return value
  let end = MAX_ECHO_LENGTH - 1
  const last = value.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end-- // never keep half of a surrogate pair
  return value.slice(0, end) + '…'
}

/** `rtc:error`: string members of the context come from the client, so each is cut by `clip`. */
export function errorMessage (reason: Reason, message: string = REASON_MESSAGES[reason], context: ErrorContext = {}): string {
  const data: Record<string, unknown> = {}
  for (const key in context) {
    const value = context[key]
    data[key] = typeof value === 'string' ? clip(value) : value
  }
  data.message = message
  data.reason = reason
  return frame('rtc:error', data)
}

/** An application event sent by server code. */
export function eventMessage (type: string, data: unknown): string {
  return frame(type, data)
}
