import type { FastifyRequest, RouteShorthandOptions } from 'fastify'
import type { WebsocketPluginOptions } from '@fastify/websocket'
import type { Adapter } from './adapters/adapter'
import type { ConnectionRequest, Endpoint } from './core/endpoint'
import { normalizeIceServers, type IceServers, type IceServersOption } from './ice'
import type { Description } from './types'
import { boolean, describeValue, fn, integer, invalid, knownKeys, plainObject } from './validate'

/** Where the WebSocket routes live: `GET {prefix}` and `GET {prefix}/:pool`. */
export const DEFAULT_PREFIX = '/rtc'
/** Private by default, as PyRTC's PoolManager: only pools that server code created can be joined. */
export const DEFAULT_PRIVATE_POOLS = true
/** A full mesh of more than a few dozen browsers is not usable; a limit also bounds fan-out per join. */
export const DEFAULT_MAX_MEMBERS = 32
export const DEFAULT_MAX_POOL_NAME_LENGTH = 128
/** Largest incoming frame in bytes (closes with 1009). An SDP with many tracks is 10 to 20 KB. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024
/** Outgoing bytes a socket may have queued before it is considered a slow reader and dropped. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024
/** ws's recommendation is 30 s; browsers answer pings without any page code. */
export const DEFAULT_HEARTBEAT_INTERVAL = 30_000
/**
 * Frames per window per connection, as a token bucket: `max` at once, refilled at `max` per
 * window. A newcomer in a pool of 32 negotiates 31 peers in a burst.
 */
export const DEFAULT_RATE_LIMIT_MAX = 500
export const DEFAULT_RATE_LIMIT_WINDOW = 1000
/**
 * A burst of this many times `max` frames at once closes the connection with 1008: `max` pass and
 * `max` are refused. Refusals drain at half the refill rate, so a sender sustaining more than
 * 1.5 times the limit is closed too, within about two windows; one below gets the limit through.
 */
export const RATE_LIMIT_CLOSE_FACTOR = 2
/** Every metric's name starts with this (`rtc_signal_connections`). */
export const DEFAULT_METRICS_PREFIX = 'rtc_signal_'
/** Histogram buckets in seconds: from a join on loopback (about a millisecond) to a negotiation timing out (30 s). */
export const DEFAULT_METRICS_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
/** An offer with no answer after this many ms counts as a `timeout` negotiation. */
export const DEFAULT_NEGOTIATION_TIMEOUT = 30_000
/** Open offers tracked at most (each about 200 bytes); past it the oldest is forgotten and counted as evicted. */
export const DEFAULT_MAX_OPEN_OFFERS = 10_000

// Hardening: how long a socket may take to join, a join hook to answer, a reader to drain.
/** A page joins right after connecting; a socket that has not joined by then is closed (1008 'join timeout'). 0 = off. */
export const DEFAULT_JOIN_TIMEOUT = 20_000
/** A join hook that has not answered by then is taken as a refusal (join-denied); its late answer is ignored. */
export const DEFAULT_JOIN_HOOK_TIMEOUT = 10_000
/** Bytes of a description as JSON (UTF-8): a display name and a role need a few dozen; 32 of them fit in one rtc:joined. */
export const DEFAULT_MAX_DESCRIPTION_BYTES = 4096
/**
 * A reader whose queue stays over maxBufferedBytes this long is dropped (slow-reader). Relayed
 * frames never take it over (their sender gets peer-busy): only the server's own frames can.
 */
export const DEFAULT_SLOW_READER_TIMEOUT = 10_000
/** Upper bound of every timeout option: Node's timers hold a signed 32-bit number of milliseconds. */
export const MAX_TIMEOUT = 2 ** 31 - 1

// --- Connection limits (checked before the upgrade, in lib/fastify) ---
/** Upgraded sockets at once; about 12 KiB each when idle, so ~120 MiB, well below a 65k fd limit. 0 = no limit. */
export const DEFAULT_MAX_CONNECTIONS = 10_000
/** Sockets at once from one `request.ip`: a NAT'd office or classroom fits, one client cannot take the server. 0 = no limit. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 64

// --- Resume and drain (docs/protocol.md, "Extensions") ---
/** A Wi-Fi to 4G handover or a laptop lid takes seconds; 20 s covers them without keeping a gone member long. */
export const DEFAULT_RESUME_GRACE_MS = 20_000
/** Several full renegotiations of a 16-member pool: the frames a resumable member's ring keeps at most. */
export const DEFAULT_RESUME_MAX_FRAMES = 1_000
/** Bytes (UTF-16 code units of the serialized frames) a resumable member's ring keeps at most. */
export const DEFAULT_RESUME_MAX_BYTES = 1_048_576
/** Failed `rtc:resume` per `request.ip` per minute (a token bucket refilled continuously); 0 = no limit. */
export const DEFAULT_RESUME_FAILURES_PER_IP = 10
/** On fastify.close(), sockets are closed (1012 or 1001) spread uniformly over this many ms. */
export const DEFAULT_DRAIN_WINDOW_MS = 2_000
/**
 * fastify.close() resolves by then, whatever is left (remaining sockets are terminated, members
 * not resumed elsewhere leave). Below Fastify's default pluginTimeout (10 s), which bounds each
 * close hook too: DRAIN_CLOSE_MARGIN_MS less at most.
 */
export const DEFAULT_DRAIN_DEADLINE_MS = 8_000
/** What the drain's close hook needs beyond drain.deadlineMs (the last leaves), within Fastify's pluginTimeout. */
export const DRAIN_CLOSE_MARGIN_MS = 1_000

export interface ResumeOptions {
  /** Milliseconds a suspended member waits for its client to resume. */
  graceMs?: number
  /** Frames kept for replay per resumable member. */
  maxFrames?: number
  /** Bytes kept for replay per resumable member. */
  maxBytes?: number
}

export interface DrainOptions {
  /** Milliseconds over which the closes are spread. */
  windowMs?: number
  /** Milliseconds after which fastify.close() goes on whatever is left. */
  deadlineMs?: number
}

export interface JoinContext {
  /** The pool name the client asked for (or the one in the route path). */
  pool: string
  /** The connection asking to join. */
  endpoint: Endpoint
}

/**
 * What a join hook may return: `false` refuses the join (`join-denied`), `undefined`/`true` lets it
 * through unchanged, an object maps the pool name and/or sets the member's initial description.
 */
export type JoinHookResult = boolean | undefined | void | { pool?: string, description?: Description }

/** `request`: what the connection kept of its upgrade request (headers, query, params, log, what your hooks set on it). */
export type JoinHook = (request: ConnectionRequest, context: JoinContext) => JoinHookResult | Promise<JoinHookResult>

export type OriginCheck = (origin: string | undefined, request: FastifyRequest) => boolean

export interface RateLimitOptions {
  /** Frames a connection may send in one window. */
  max?: number
  /** The window in milliseconds. */
  timeWindow?: number
}

/** The part of a prom-client `Registry` the plugin uses: yours, or the one fastify-metrics exposes. */
export interface MetricsRegistry {
  registerMetric (metric: unknown): void
  getSingleMetric (name: string): unknown
  removeSingleMetric (name: string): void
}

/** The histograms whose buckets can be set. */
export type MetricsHistogram = 'join' | 'hook' | 'negotiation' | 'heartbeat'

export interface MetricsOptions {
  /** A prom-client `Registry`: the plugin's metrics go there, never on prom-client's global registry. */
  registry: MetricsRegistry
  /** Prefix of every metric's name; `rtc_signal_` by default. */
  prefix?: string
  /** Buckets in seconds, for every histogram (an array) or per histogram. */
  buckets?: number[] | Partial<Record<MetricsHistogram, number[]>>
  /** Milliseconds after which an unanswered offer counts as a `timeout` negotiation. */
  negotiationTimeout?: number
  /** Open offers tracked at most; the oldest is forgotten (and counted) past it. */
  maxOpenOffers?: number
}

export interface RtcSignalOptions {
  prefix?: string
  privatePools?: boolean
  maxMembers?: number
  maxPoolNameLength?: number
  maxPayload?: number
  maxBufferedBytes?: number
  /** Milliseconds between pings; 0 disables the heartbeat. */
  heartbeatInterval?: number
  /** `false` disables rate limiting. */
  rateLimit?: RateLimitOptions | false
  /** `'*'` (default), a list of exact origins (`'https://app.example'`), or a predicate. */
  allowedOrigins?: '*' | string[] | OriginCheck
  joinHook?: JoinHook
  /** Route options (`onRequest`, `preValidation`, `preHandler`, `config`, ...) put on the WebSocket routes. */
  routeOptions?: RouteShorthandOptions
  /** Options for @fastify/websocket when this plugin registers it (it does not when the app already has). */
  websocket?: WebsocketPluginOptions
  /** Serve the demo video-call page at `/` and `/:pool`. */
  demo?: boolean
  /** The cluster bus; the default keeps everything in this process. */
  adapter?: Adapter
  // Hardening
  /** Milliseconds a socket may stay without joining a pool; 0 disables. */
  joinTimeout?: number
  /** Milliseconds the join hook has to answer before the join is refused. */
  joinHookTimeout?: number
  /** Largest description, in bytes of JSON (UTF-8). */
  maxDescriptionBytes?: number
  /** Milliseconds a socket's queue may stay over maxBufferedBytes before it is dropped. */
  slowReaderTimeout?: number
  // Connection limits
  /** Upgraded sockets at once (503 before the upgrade beyond it); 0 = no limit. */
  maxConnections?: number
  /** Sockets at once from one `request.ip` (429 before the upgrade beyond it); 0 = no limit. */
  maxConnectionsPerIp?: number
  /**
   * ICE servers (STUN/TURN) handed to each member in `rtc:joined` and refreshed with `rtc:ice`:
   * RTCIceServer entries, TURN REST entries `{ urls, secret, ttl }` (a credential per member,
   * coturn `use-auth-secret`), or a function of the member's Endpoint (its `request`, and the
   * description the join hook set) returning `{ servers, expiresAt }`. None by default.
   */
  iceServers?: IceServersOption<Endpoint>
  /** Prometheus metrics on your prom-client registry (prom-client must be installed); `false` (default) for none. */
  metrics?: MetricsOptions | false
  /** Resume after a blip for clients that join with `resume: true`; `false` disables it. */
  resume?: ResumeOptions | false
  /** Failed resumes per `request.ip` per minute; 0 = no limit. */
  resumeFailuresPerIp?: number
  /** How fastify.close() drains the sockets. */
  drain?: DrainOptions
}

export interface NormalizedOptions {
  readonly prefix: string
  readonly privatePools: boolean
  readonly maxMembers: number
  readonly maxPoolNameLength: number
  readonly maxPayload: number
  readonly maxBufferedBytes: number
  readonly heartbeatInterval: number
  readonly rateLimit: Readonly<{ max: number, timeWindow: number }> | null
  readonly originAllowed: OriginCheck | null
  readonly joinHook: JoinHook | null
  readonly routeOptions: RouteShorthandOptions
  readonly websocket: WebsocketPluginOptions
  readonly demo: boolean
  readonly adapter: Adapter | null
  readonly joinTimeout: number
  readonly joinHookTimeout: number
  readonly maxDescriptionBytes: number
  readonly slowReaderTimeout: number
  // Connection limits
  readonly maxConnections: number
  readonly maxConnectionsPerIp: number
  /** Issues each member's ICE servers; null when none are configured. Holds no secret it would print. */
  readonly iceServers: IceServers<Endpoint> | null
  readonly metrics: NormalizedMetricsOptions | null
  readonly resume: Readonly<Required<ResumeOptions>> | null
  readonly resumeFailuresPerIp: number
  readonly drain: Readonly<Required<DrainOptions>>
}

export interface NormalizedMetricsOptions {
  readonly registry: MetricsRegistry
  readonly prefix: string
  readonly buckets: Readonly<Record<MetricsHistogram, readonly number[]>>
  readonly negotiationTimeout: number
  readonly maxOpenOffers: number
}

/**
 * Bytes of the largest `rtc:joined` a pool of `maxMembers` can send: each member's id twice and
 * its description, plus the envelope. It must fit a socket's queue (`maxBufferedBytes`).
 */
export function largestJoined (maxMembers: number, maxDescriptionBytes: number): number {
  return maxMembers * (maxDescriptionBytes + 100) + 200
}

/** FST_RTC_INVALID_OPTION (naming `name`) when a pool of `maxMembers` could send an rtc:joined over `maxBufferedBytes`. */
export function assertJoinedFits (name: string, limits: { maxMembers: number, maxDescriptionBytes: number, maxBufferedBytes: number }): void {
  const { maxMembers, maxDescriptionBytes, maxBufferedBytes } = limits
  const bytes = largestJoined(maxMembers, maxDescriptionBytes)
  if (bytes <= maxBufferedBytes) return
  throw invalid(name, `the largest rtc:joined, maxMembers × (maxDescriptionBytes + 100) + 200 = ${maxMembers} × ${maxDescriptionBytes + 100} + 200 = ${bytes} bytes, would not fit maxBufferedBytes (${maxBufferedBytes}): raise maxBufferedBytes or lower maxMembers or maxDescriptionBytes`)
}

/** Every option key: a misspelt one fails registration. TypeScript keeps the list complete. */
const OPTION_KEYS = Object.keys({
  prefix: true,
  privatePools: true,
  maxMembers: true,
  maxPoolNameLength: true,
  maxPayload: true,
  maxBufferedBytes: true,
  heartbeatInterval: true,
  rateLimit: true,
  allowedOrigins: true,
  joinHook: true,
  routeOptions: true,
  websocket: true,
  demo: true,
  adapter: true,
  joinTimeout: true,
  joinHookTimeout: true,
  maxDescriptionBytes: true,
  slowReaderTimeout: true,
  maxConnections: true,
  maxConnectionsPerIp: true,
  iceServers: true,
  metrics: true,
  resume: true,
  resumeFailuresPerIp: true,
  drain: true
} satisfies Record<keyof RtcSignalOptions, true>)

/** The part of the options the core (lib/core) works with: no routes, no websocket plugin, no demo. */
export type CoreOptions = Pick<NormalizedOptions,
  'privatePools' | 'maxMembers' | 'maxPoolNameLength' | 'maxPayload' | 'maxBufferedBytes' |
  'heartbeatInterval' | 'rateLimit' | 'joinHook' | 'adapter' |
  'joinTimeout' | 'joinHookTimeout' | 'maxDescriptionBytes' | 'slowReaderTimeout' | 'iceServers' |
  'resume' | 'resumeFailuresPerIp' | 'drain'>

function normalizePrefix (value: unknown): string {
  if (value === undefined) return DEFAULT_PREFIX
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9_\-./]*$/.test(value) || value.endsWith('/') || value.includes(':')) {
    throw invalid('prefix', `expected a path like "/rtc" (leading slash, no trailing slash, no parameters), got ${describeValue(value)}`)
  }
  return value
}

function normalizeRateLimit (value: unknown): NormalizedOptions['rateLimit'] {
  if (value === false) return null
  const obj = plainObject<RateLimitOptions>('rateLimit', value)
  return Object.freeze({
    max: integer('rateLimit.max', obj.max, DEFAULT_RATE_LIMIT_MAX, 1),
    timeWindow: integer('rateLimit.timeWindow', obj.timeWindow, DEFAULT_RATE_LIMIT_WINDOW, 1)
  })
}

function normalizeOrigins (value: unknown): OriginCheck | null {
  if (value === undefined || value === '*') return null
  if (typeof value === 'function') return value as OriginCheck
  if (Array.isArray(value) && value.every((o) => typeof o === 'string')) {
    const allowed = new Set(value as string[])
    return (origin) => origin === undefined || allowed.has(origin)
  }
  throw invalid('allowedOrigins', `expected '*', an array of origin strings or a function, got ${describeValue(value)}`)
}

function normalizeAdapter (value: unknown): Adapter | null {
  if (value === undefined || value === null) return null
  const a = value as Partial<Adapter>
  if (typeof a !== 'object' || typeof a.attach !== 'function' || typeof a.join !== 'function') {
    throw invalid('adapter', 'expected an adapter object (see redisAdapter())')
  }
  return value as Adapter
}

const HISTOGRAMS: readonly MetricsHistogram[] = ['join', 'hook', 'negotiation', 'heartbeat']

function normalizeBuckets (name: string, value: unknown): readonly number[] {
  if (value === undefined) return DEFAULT_METRICS_BUCKETS
  if (!Array.isArray(value) || value.length === 0 ||
      !value.every((b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > value[i - 1]))) {
    throw invalid(name, `expected a non-empty array of increasing positive numbers (seconds), got ${describeValue(value)}`)
  }
  return Object.freeze([...value as number[]])
}

function normalizeMetrics (value: unknown): NormalizedOptions['metrics'] {
  if (value === undefined || value === false) return null
  const o = plainObject<MetricsOptions>('metrics', value)
  const registry = o.registry as Partial<MetricsRegistry> | undefined
  if (typeof registry !== 'object' || registry === null ||
      typeof registry.registerMetric !== 'function' || typeof registry.getSingleMetric !== 'function' || typeof registry.removeSingleMetric !== 'function') {
    throw invalid('metrics.registry', `expected a prom-client Registry, got ${describeValue(registry)}`)
  }
  const prefix = o.prefix ?? DEFAULT_METRICS_PREFIX
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw invalid('metrics.prefix', `expected a Prometheus name prefix like "rtc_signal_", got ${describeValue(prefix)}`)
  }
  const given = o.buckets
  const perHistogram = given === undefined || Array.isArray(given) ? null : plainObject<Partial<Record<MetricsHistogram, number[]>>>('metrics.buckets', given)
  const buckets = Object.fromEntries(HISTOGRAMS.map((h) => [h, perHistogram === null
    ? normalizeBuckets('metrics.buckets', given)
    : normalizeBuckets(`metrics.buckets.${h}`, perHistogram[h])])) as Record<MetricsHistogram, readonly number[]>
  return Object.freeze({
    registry: registry as MetricsRegistry,
    prefix,
    buckets: Object.freeze(buckets),
    negotiationTimeout: integer('metrics.negotiationTimeout', o.negotiationTimeout, DEFAULT_NEGOTIATION_TIMEOUT, 1),
    maxOpenOffers: integer('metrics.maxOpenOffers', o.maxOpenOffers, DEFAULT_MAX_OPEN_OFFERS, 1)
  })
}

function normalizeResume (value: unknown): NormalizedOptions['resume'] {
  if (value === false) return null
  const o = plainObject<ResumeOptions>('resume', value)
  return Object.freeze({
    graceMs: integer('resume.graceMs', o.graceMs, DEFAULT_RESUME_GRACE_MS, 1, MAX_TIMEOUT),
    maxFrames: integer('resume.maxFrames', o.maxFrames, DEFAULT_RESUME_MAX_FRAMES, 1),
    maxBytes: integer('resume.maxBytes', o.maxBytes, DEFAULT_RESUME_MAX_BYTES, 1)
  })
}

function normalizeDrain (value: unknown): NormalizedOptions['drain'] {
  const o = plainObject<DrainOptions>('drain', value)
  return Object.freeze({
    windowMs: integer('drain.windowMs', o.windowMs, DEFAULT_DRAIN_WINDOW_MS, 0, MAX_TIMEOUT),
    deadlineMs: integer('drain.deadlineMs', o.deadlineMs, DEFAULT_DRAIN_DEADLINE_MS, 1, MAX_TIMEOUT)
  })
}

/**
 * Validates the caller's options once, at registration, and returns a frozen copy with every
 * default filled in. `combined: false` checks each option alone, not how they fit together (the
 * CLI checks one flag at a time; the plugin checks the whole set when it registers).
 */
export function normalizeOptions (opts: RtcSignalOptions = {}, { combined = true } = {}): NormalizedOptions {
  const o = plainObject<RtcSignalOptions>('options', opts)
  knownKeys(o, OPTION_KEYS)
  const options = Object.freeze({
    prefix: normalizePrefix(o.prefix),
    privatePools: boolean('privatePools', o.privatePools, DEFAULT_PRIVATE_POOLS),
    maxMembers: integer('maxMembers', o.maxMembers, DEFAULT_MAX_MEMBERS, 1),
    maxPoolNameLength: integer('maxPoolNameLength', o.maxPoolNameLength, DEFAULT_MAX_POOL_NAME_LENGTH, 1),
    maxPayload: integer('maxPayload', o.maxPayload, DEFAULT_MAX_PAYLOAD, 256),
    maxBufferedBytes: integer('maxBufferedBytes', o.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES, 1024),
    heartbeatInterval: integer('heartbeatInterval', o.heartbeatInterval, DEFAULT_HEARTBEAT_INTERVAL, 0),
    rateLimit: normalizeRateLimit(o.rateLimit),
    originAllowed: normalizeOrigins(o.allowedOrigins),
    joinHook: fn<JoinHook>('joinHook', o.joinHook),
    routeOptions: Object.freeze({ ...plainObject<RouteShorthandOptions>('routeOptions', o.routeOptions) }),
    websocket: Object.freeze({ ...plainObject<WebsocketPluginOptions>('websocket', o.websocket) }),
    demo: boolean('demo', o.demo, false),
    adapter: normalizeAdapter(o.adapter),
    joinTimeout: integer('joinTimeout', o.joinTimeout, DEFAULT_JOIN_TIMEOUT, 0, MAX_TIMEOUT),
    joinHookTimeout: integer('joinHookTimeout', o.joinHookTimeout, DEFAULT_JOIN_HOOK_TIMEOUT, 1, MAX_TIMEOUT),
    maxDescriptionBytes: integer('maxDescriptionBytes', o.maxDescriptionBytes, DEFAULT_MAX_DESCRIPTION_BYTES, 1),
    slowReaderTimeout: integer('slowReaderTimeout', o.slowReaderTimeout, DEFAULT_SLOW_READER_TIMEOUT, 0, MAX_TIMEOUT),
    // Connection limits
    maxConnections: integer('maxConnections', o.maxConnections, DEFAULT_MAX_CONNECTIONS, 0),
    maxConnectionsPerIp: integer('maxConnectionsPerIp', o.maxConnectionsPerIp, DEFAULT_MAX_CONNECTIONS_PER_IP, 0),
    iceServers: normalizeIceServers(o.iceServers),
    metrics: normalizeMetrics(o.metrics),
    resume: normalizeResume(o.resume),
    resumeFailuresPerIp: integer('resumeFailuresPerIp', o.resumeFailuresPerIp, DEFAULT_RESUME_FAILURES_PER_IP, 0),
    drain: normalizeDrain(o.drain)
  })
  if (combined) assertJoinedFits('maxBufferedBytes', options)
  if (combined && options.drain.windowMs > options.drain.deadlineMs) {
    throw invalid('drain.windowMs', `the closes are spread over windowMs (${options.drain.windowMs}), which must not be longer than deadlineMs (${options.drain.deadlineMs})`)
  }
  return options
}
