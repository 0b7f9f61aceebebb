// The package's public surface: the plugin and what server code needs to use it. Nothing here
// is internal: the core's wiring (createCore), option normalization and the Fastify routes stay
// in their modules.
//
// The shape every Fastify plugin has, so that each kind of import gets the plugin itself:
//   module.exports = plugin                      require(), `import x from` in ESM (Node's default is module.exports)
//   module.exports.default = plugin              `import x from` compiled to CommonJS, bundlers
//   module.exports.rtcSignal = plugin, .errors…  named imports, `const { rtcSignal } = require()`
// and its types are `export =` a function merged with a namespace (tsc emits dist/index.d.ts from
// this file), which TypeScript reads the same way under node10, node16/nodenext and bundler.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { rtcSignal as register } from './fastify/plugin'
import { errors, type RtcErrorCode } from './errors'
import {
  DEFAULT_PREFIX, DEFAULT_PRIVATE_POOLS, DEFAULT_MAX_MEMBERS, DEFAULT_MAX_POOL_NAME_LENGTH, DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_RATE_LIMIT_MAX, DEFAULT_RATE_LIMIT_WINDOW,
  RATE_LIMIT_CLOSE_FACTOR, DEFAULT_JOIN_TIMEOUT, DEFAULT_JOIN_HOOK_TIMEOUT, DEFAULT_MAX_DESCRIPTION_BYTES, DEFAULT_SLOW_READER_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_METRICS_PREFIX, DEFAULT_METRICS_BUCKETS, DEFAULT_NEGOTIATION_TIMEOUT, DEFAULT_MAX_OPEN_OFFERS,
  DEFAULT_RESUME_GRACE_MS, DEFAULT_RESUME_MAX_FRAMES, DEFAULT_RESUME_MAX_BYTES, DEFAULT_RESUME_FAILURES_PER_IP, DEFAULT_DRAIN_WINDOW_MS, DEFAULT_DRAIN_DEADLINE_MS,
  type ResumeOptions, type DrainOptions, type MetricsOptions, type MetricsRegistry, type MetricsHistogram,
  type RtcSignalOptions, type NormalizedOptions, type JoinHook, type JoinContext, type JoinHookResult,
  type OriginCheck, type RateLimitOptions
} from './options'
import type {
  Description, RtcSignalTypes, MemberInfo, MemberState, PoolInfo, PoolSettings, LeaveReason, PoolClosedReason, JoinOutcome, JoinPolicy
} from './types'
import { PoolManager, type CreatePoolOptions } from './core/pool-manager'
import type { PoolManagerEvents } from './core/emitter'
import { Endpoint, type ConnectionRequest, type SendVerdict } from './core/endpoint'
import type { AllowsRule, Member, PoolView } from './core/pool-view'
import {
  turnRestCredential, MIN_TURN_TTL, MAX_TURN_TTL,
  type IceServer, type IceServersResult, type TurnRestServer, type IceServersProvider, type IceServersOption
} from './ice'
import {
  CHANNELS, type ConnectionFact, type ConnectionRefusal, type JoinFact, type LeaveFact, type RelayFact, type SdpType, type ErrorFact,
  type FrameFact, type FrameKind, type HookFact, type HeartbeatFact, type AdapterFact, type AdapterOp, type IceFact,
  type ResumeFact, type ResumeResult
} from './core/diagnostics'
import { CLOSE_CODES, REASONS, REASON_MESSAGES, type Reason, type Frame, type FrameData } from './protocol'
import type { Adapter, AdapterHost, ClaimResult, Handover } from './adapters/adapter'
import { MemoryAdapter } from './adapters/memory'
import { redisAdapter, type RedisAdapterOptions } from './adapters/redis'

declare module 'fastify' {
  interface FastifyInstance {
    /** Pools, members and application events of fastify-rtc-signal. */
    rtcPools: PoolManager
  }
}

/** The plugin: `app.register(rtcSignal, options)`. */
function rtcSignal (fastify: FastifyInstance, opts: RtcSignalOptions): Promise<void> {
  return register(fastify, opts)
}
fp(rtcSignal, { fastify: '5.x', name: 'fastify-rtc-signal' })

declare namespace rtcSignal {
  export { rtcSignal, rtcSignal as default }
  export {
    errors, DEFAULT_PREFIX, DEFAULT_PRIVATE_POOLS, DEFAULT_MAX_MEMBERS, DEFAULT_MAX_POOL_NAME_LENGTH, DEFAULT_MAX_PAYLOAD,
    DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_RATE_LIMIT_MAX, DEFAULT_RATE_LIMIT_WINDOW,
    RATE_LIMIT_CLOSE_FACTOR, DEFAULT_JOIN_TIMEOUT, DEFAULT_JOIN_HOOK_TIMEOUT, DEFAULT_MAX_DESCRIPTION_BYTES, DEFAULT_SLOW_READER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP,
    DEFAULT_METRICS_PREFIX, DEFAULT_METRICS_BUCKETS, DEFAULT_NEGOTIATION_TIMEOUT, DEFAULT_MAX_OPEN_OFFERS, CHANNELS,
    DEFAULT_RESUME_GRACE_MS, DEFAULT_RESUME_MAX_FRAMES, DEFAULT_RESUME_MAX_BYTES, DEFAULT_RESUME_FAILURES_PER_IP, DEFAULT_DRAIN_WINDOW_MS, DEFAULT_DRAIN_DEADLINE_MS,
    turnRestCredential, MIN_TURN_TTL, MAX_TURN_TTL,
    PoolManager, Endpoint, CLOSE_CODES, REASONS, REASON_MESSAGES, MemoryAdapter, redisAdapter
  }
  export type {
    RtcErrorCode, RtcSignalOptions, NormalizedOptions, JoinHook, JoinContext, JoinHookResult, OriginCheck, RateLimitOptions,
    ResumeOptions, DrainOptions,
    Description, RtcSignalTypes, MemberInfo, MemberState, PoolInfo, PoolSettings, LeaveReason, PoolClosedReason, JoinOutcome, JoinPolicy,
    CreatePoolOptions, PoolManagerEvents, SendVerdict, ConnectionRequest, AllowsRule, Member, PoolView, Reason, Frame, FrameData,
    Adapter, AdapterHost, ClaimResult, Handover, RedisAdapterOptions,
    IceServer, IceServersResult, TurnRestServer, IceServersProvider, IceServersOption,
    MetricsOptions, MetricsRegistry, MetricsHistogram,
    ConnectionFact, ConnectionRefusal, JoinFact, LeaveFact, RelayFact, SdpType, ErrorFact,
    FrameFact, FrameKind, HookFact, HeartbeatFact, AdapterFact, AdapterOp, IceFact, ResumeFact, ResumeResult
  }
}

export = rtcSignal
// tsc emits `export =` at the very end of the file: assign it here already, so that the lines
// below add to the plugin. Each named export is its own `module.exports.name =` line: the form
// Node's ES module loader detects in a CommonJS file, so `import { redisAdapter } from
// 'fastify-rtc-signal'` works in ESM. The names are the values of the namespace above;
// test/package.test.ts checks that both lists agree.
module.exports = rtcSignal
module.exports.default = rtcSignal
module.exports.rtcSignal = rtcSignal
module.exports.errors = errors
module.exports.DEFAULT_PREFIX = DEFAULT_PREFIX
module.exports.DEFAULT_PRIVATE_POOLS = DEFAULT_PRIVATE_POOLS
module.exports.DEFAULT_MAX_MEMBERS = DEFAULT_MAX_MEMBERS
module.exports.DEFAULT_MAX_POOL_NAME_LENGTH = DEFAULT_MAX_POOL_NAME_LENGTH
module.exports.DEFAULT_MAX_PAYLOAD = DEFAULT_MAX_PAYLOAD
module.exports.DEFAULT_MAX_BUFFERED_BYTES = DEFAULT_MAX_BUFFERED_BYTES
module.exports.DEFAULT_HEARTBEAT_INTERVAL = DEFAULT_HEARTBEAT_INTERVAL
module.exports.DEFAULT_RATE_LIMIT_MAX = DEFAULT_RATE_LIMIT_MAX
module.exports.DEFAULT_RATE_LIMIT_WINDOW = DEFAULT_RATE_LIMIT_WINDOW
module.exports.RATE_LIMIT_CLOSE_FACTOR = RATE_LIMIT_CLOSE_FACTOR
module.exports.DEFAULT_JOIN_TIMEOUT = DEFAULT_JOIN_TIMEOUT
module.exports.DEFAULT_JOIN_HOOK_TIMEOUT = DEFAULT_JOIN_HOOK_TIMEOUT
module.exports.DEFAULT_MAX_DESCRIPTION_BYTES = DEFAULT_MAX_DESCRIPTION_BYTES
module.exports.DEFAULT_SLOW_READER_TIMEOUT = DEFAULT_SLOW_READER_TIMEOUT
module.exports.DEFAULT_MAX_CONNECTIONS = DEFAULT_MAX_CONNECTIONS
module.exports.DEFAULT_MAX_CONNECTIONS_PER_IP = DEFAULT_MAX_CONNECTIONS_PER_IP
module.exports.DEFAULT_METRICS_PREFIX = DEFAULT_METRICS_PREFIX
module.exports.DEFAULT_METRICS_BUCKETS = DEFAULT_METRICS_BUCKETS
module.exports.DEFAULT_NEGOTIATION_TIMEOUT = DEFAULT_NEGOTIATION_TIMEOUT
module.exports.DEFAULT_MAX_OPEN_OFFERS = DEFAULT_MAX_OPEN_OFFERS
module.exports.DEFAULT_RESUME_GRACE_MS = DEFAULT_RESUME_GRACE_MS
module.exports.DEFAULT_RESUME_MAX_FRAMES = DEFAULT_RESUME_MAX_FRAMES
module.exports.DEFAULT_RESUME_MAX_BYTES = DEFAULT_RESUME_MAX_BYTES
module.exports.DEFAULT_RESUME_FAILURES_PER_IP = DEFAULT_RESUME_FAILURES_PER_IP
module.exports.DEFAULT_DRAIN_WINDOW_MS = DEFAULT_DRAIN_WINDOW_MS
module.exports.DEFAULT_DRAIN_DEADLINE_MS = DEFAULT_DRAIN_DEADLINE_MS
module.exports.CHANNELS = CHANNELS
module.exports.turnRestCredential = turnRestCredential
module.exports.MIN_TURN_TTL = MIN_TURN_TTL
module.exports.MAX_TURN_TTL = MAX_TURN_TTL
module.exports.PoolManager = PoolManager
module.exports.Endpoint = Endpoint
module.exports.CLOSE_CODES = CLOSE_CODES
module.exports.REASONS = REASONS
module.exports.REASON_MESSAGES = REASON_MESSAGES
module.exports.MemoryAdapter = MemoryAdapter
module.exports.redisAdapter = redisAdapter
