// The package's public surface: the plugin and what server code needs to use it. Nothing here
// is internal: the core's wiring (createCore), option normalization and the Fastify routes stay
// in their modules.
import plugin from './fastify/plugin'

export default plugin
export { rtcSignal } from './fastify/plugin'
export { errors, type RtcErrorCode } from './errors'
export {
  DEFAULT_PREFIX, DEFAULT_PRIVATE_POOLS, DEFAULT_MAX_MEMBERS, DEFAULT_MAX_POOL_NAME_LENGTH, DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_RATE_LIMIT_MAX, DEFAULT_RATE_LIMIT_WINDOW,
  RATE_LIMIT_CLOSE_FACTOR, DEFAULT_METRICS_PREFIX, DEFAULT_METRICS_BUCKETS, DEFAULT_NEGOTIATION_TIMEOUT, DEFAULT_MAX_OPEN_OFFERS,
  type MetricsOptions, type MetricsRegistry, type MetricsHistogram,
  type RtcSignalOptions, type NormalizedOptions, type JoinHook, type JoinContext, type JoinHookResult,
  type OriginCheck, type RateLimitOptions
} from './options'
export type {
  Description, MemberInfo, PoolInfo, PoolSettings, LeaveReason, PoolClosedReason, JoinOutcome, JoinPolicy
} from './types'
export { PoolManager, type CreatePoolOptions } from './core/pool-manager'
export type { PoolManagerEvents } from './core/emitter'
export { Endpoint, type SendVerdict } from './core/endpoint'
export type { AllowsRule, Member, PoolView } from './core/pool-view'
export { CLOSE_CODES, REASONS, REASON_MESSAGES, type Reason, type Frame, type FrameData } from './protocol'
export {
  CHANNELS, type ConnectionFact, type ConnectionRefusal, type JoinFact, type LeaveFact, type RelayFact, type SdpType, type ErrorFact,
  type FrameFact, type FrameKind, type HookFact, type HeartbeatFact, type AdapterFact, type AdapterOp, type IceFact
} from './core/diagnostics'
export type { Adapter, AdapterHost } from './adapters/adapter'
export { MemoryAdapter } from './adapters/memory'
export { redisAdapter, type RedisAdapterOptions } from './adapters/redis'
