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
  RATE_LIMIT_CLOSE_FACTOR,
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
export {
  turnRestCredential, MIN_TURN_TTL, MAX_TURN_TTL,
  type IceServer, type IceServersResult, type TurnRestServer, type IceServersProvider, type IceServersOption
} from './ice'
export { CLOSE_CODES, REASONS, REASON_MESSAGES, type Reason, type Frame, type FrameData } from './protocol'
export type { Adapter, AdapterHost } from './adapters/adapter'
export { MemoryAdapter } from './adapters/memory'
export { redisAdapter, type RedisAdapterOptions } from './adapters/redis'
