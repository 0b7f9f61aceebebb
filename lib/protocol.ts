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
  return sdpFromJson(from, JSON.stringify(description))
}

/** Relayed `rtc:candidate`. */
export function candidateMessage (from: string, candidate: unknown): string {
  return candidateFromJson(from, JSON.stringify(candidate))
}

/** Relayed `rtc:sdp` from the description's JSON text: the sender's own (`frameValue`), not serialized again. */
export function sdpFromJson (from: string, descriptionJson: string): string {
  return SDP_HEAD + from + '","description":' + descriptionJson + '}}'
}

/** Relayed `rtc:candidate` from the candidate's JSON text (`frameValue`). */
export function candidateFromJson (from: string, candidateJson: string): string {
  return CANDIDATE_HEAD + from + '","candidate":' + candidateJson + '}}'
}

// ---------------------------------------------------------------------------------------------
// A value's own text in a frame. Serializing a parsed SDP again costs more than parsing it (its
// \r\n are escaped one character at a time); the frame already holds that value as valid JSON.

const QUOTE = 34
const BACKSLASH = 92
const OPEN_BRACE = 123
const CLOSE_BRACE = 125
const OPEN_BRACKET = 91
const CLOSE_BRACKET = 93
const COMMA = 44
const COLON = 58

function skipSpace (text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return i
    i++
  }
}

/** `text[i]` opens a string: the index after its closing quote, or -1. */
function skipString (text: string, i: number): number {
  let j = i
  for (;;) {
    j = text.indexOf('"', j + 1)
    if (j === -1) return -1
    let k = j - 1
    while (text.charCodeAt(k) === BACKSLASH) k--
    if ((j - 1 - k) % 2 === 0) return j + 1 // an even run of backslashes: this quote is not escaped
  }
}

/** The index after the value that starts at `text[i]`, or -1. Strings are skipped whole. */
function skipValue (text: string, i: number): number {
  const first = text.charCodeAt(i)
  if (first === QUOTE) return skipString(text, i)
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === QUOTE) {
        i = skipString(text, i)
        if (i === -1) return -1
        continue
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++
      else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) return i + 1
      i++
    }
    return -1
  }
  while (i < text.length) { // a number, true, false or null
    const c = text.charCodeAt(i)
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === 32 || c === 10 || c === 13 || c === 9) return i
    i++
  }
  return i
}

/**
 * The object opening at `text[i]`: [start, end) of the value of its member `key`, or null when
 * it has none, or has it twice, or has a key with an escape (`"d\u0061ta"` is `data` to
 * JSON.parse): then the span cannot be told for certain. -1 for text that is not an object.
 */
function memberSpan (text: string, i: number, key: string): [number, number] | null | -1 {
  if (text.charCodeAt(i) !== OPEN_BRACE) return -1
  let span: [number, number] | null = null
  i = skipSpace(text, i + 1)
  if (text.charCodeAt(i) === CLOSE_BRACE) return null
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return -1
    const keyEnd = skipString(text, i)
    if (keyEnd === -1) return -1
    const name = text.slice(i + 1, keyEnd - 1)
    if (name.includes('\\')) return null
    i = skipSpace(text, keyEnd)
    if (text.charCodeAt(i) !== COLON) return -1
    const start = skipSpace(text, i + 1)
    const end = skipValue(text, start)
    if (end === -1) return -1
    if (name === key) {
      if (span !== null) return null
      span = [start, end]
    }
    i = skipSpace(text, end)
    const c = text.charCodeAt(i)
    if (c === CLOSE_BRACE) return span
    if (c !== COMMA) return -1
    i = skipSpace(text, i + 1)
  }
}

/**
 * The JSON text of `data[key]` in a frame that parseFrame accepted: the frame's own slice when
 * its place is certain (one `data`, one `key` in it, no escaped key), else `value` (the parsed
 * one) serialized. Either way it is valid JSON for exactly the value that was validated.
 */
export function frameValue (text: string, key: string, value: unknown): string {
  const data = memberSpan(text, skipSpace(text, 0), 'data')
  if (data !== null && data !== -1) {
    const span = memberSpan(text, data[0], key)
    if (span !== null && span !== -1) return text.slice(span[0], span[1])
  }
  return JSON.stringify(value)
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
