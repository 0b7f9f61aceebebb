import { errors } from '../../errors'
import type { Adapter } from '../adapter'
import { ClusterAdapter } from '../cluster/adapter'
import { RedisClusterTransport, type RedisClusterClient } from './cluster-transport'
import { RedisTransport } from './transport'

export type { RedisClusterClient }

/**
 * The part of an ioredis (5 or 6) client this adapter uses. A structural type, so that the
 * published typings do not need ioredis: users of the in-memory adapter never install it.
 */
export interface RedisClient {
  readonly status: string
  duplicate (override?: Record<string, unknown>): RedisClient
  on (event: string, listener: (...args: any[]) => void): unknown
  removeListener (event: string, listener: (...args: any[]) => void): unknown
  evalsha (sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  publish (channel: string, message: string): Promise<unknown>
  subscribe (...channels: string[]): Promise<unknown>
  unsubscribe (...channels: string[]): Promise<unknown>
  hget (key: string, field: string): Promise<string | null>
  smembers (key: string): Promise<string[]>
  quit (): Promise<unknown>
  disconnect (): void
}

export interface RedisAdapterOptions {
  /** `redis://` or `rediss://` URL of the Redis server (needs the `ioredis` package). Default `redis://127.0.0.1:6379`. */
  url?: string
  /**
   * An ioredis client to send commands with, instead of `url`. The adapter duplicates it for its
   * subscriber connection (closed with the app); the client itself stays yours to close. Create it
   * with `enableOfflineQueue: false, maxRetriesPerRequest: 0`, as the adapter does for its own:
   * otherwise commands in flight when Redis goes away are sent again when it is back, stale.
   */
  client?: RedisClient | RedisClusterClient
  /**
   * Redis Cluster (or Valkey cluster, 7.0 or later: sharded pub/sub) instead of one server: some of
   * its nodes, to discover it from. Each pool's keys and channels live in one hash slot, so pools
   * spread over the shards. An ioredis `Cluster` given as `client` selects cluster mode too:
   * create it with `enableOfflineQueue: false, retryDelayOnFailover: 0, retryDelayOnClusterDown: 0,
   * redisOptions: { maxRetriesPerRequest: 0 }`, as the adapter does for its own, or frames in
   * flight during a failover may be sent again after newer ones.
   */
  cluster?: Array<{ host: string, port: number }>
  /**
   * Prefix of every key and channel, so several clusters can share one Redis. Default `rtc:`. In
   * cluster mode it must not hold a brace (`{` `}`), which would change the hash slots.
   */
  prefix?: string
  /**
   * Milliseconds a process's liveness key lives (refreshed every third of it). A process that has
   * not refreshed it for this long is taken as dead: the survivors remove its members. Default 10 s.
   */
  ttl?: number
  /** Milliseconds to wait for Redis when the plugin registers before registration fails. Default 10 s. */
  connectTimeout?: number
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
export const DEFAULT_REDIS_PREFIX = 'rtc:'
export const DEFAULT_REDIS_TTL = 10_000
export const DEFAULT_REDIS_CONNECT_TIMEOUT = 10_000

function positiveInteger (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new errors.FST_RTC_INVALID_OPTION(name, `expected an integer >= 1, got ${JSON.stringify(value)}`)
  }
  return value
}

/**
 * The Redis adapter: every process registered with `adapter: redisAdapter({ url })` on the same
 * Redis server (and prefix) serves the same pools; with `cluster` (or an ioredis Cluster as
 * `client`), the same on Redis Cluster (cluster-transport.ts). ioredis is loaded only when `url`
 * or `cluster` is used, at registration. Options are checked here, when it is called.
 */
export function redisAdapter (opts: RedisAdapterOptions = {}): Adapter {
  if (typeof opts !== 'object' || opts === null) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter', 'expected an options object')
  if (opts.url !== undefined && typeof opts.url !== 'string') throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.url', 'expected a redis:// URL string')
  if (opts.client !== undefined && (typeof opts.client !== 'object' || opts.client === null || typeof opts.client.duplicate !== 'function')) {
    throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.client', 'expected an ioredis client')
  }
  if (opts.url !== undefined && opts.client !== undefined) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter', 'give url or client, not both')
  const cluster = clusterNodes(opts.cluster)
  if (cluster !== undefined && (opts.url !== undefined || opts.client !== undefined)) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter', 'give cluster, url or client: one of them')
  const prefix = opts.prefix ?? DEFAULT_REDIS_PREFIX
  if (typeof prefix !== 'string' || prefix.length === 0) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.prefix', 'expected a non-empty string')
  const ttl = positiveInteger('redisAdapter.ttl', opts.ttl, DEFAULT_REDIS_TTL)
  const connectTimeout = positiveInteger('redisAdapter.connectTimeout', opts.connectTimeout, DEFAULT_REDIS_CONNECT_TIMEOUT)
  const client = opts.client
  if (cluster !== undefined || isCluster(client)) {
    if (/[{}]/.test(prefix)) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.prefix', 'in cluster mode, a prefix without braces ({ }): they would change the hash slots')
    return new ClusterAdapter(new RedisClusterTransport({ nodes: cluster ?? [], client: isCluster(client) ? client : undefined, prefix, connectTimeout }), { ttl })
  }
  const transport = new RedisTransport({ url: opts.url ?? DEFAULT_REDIS_URL, client, prefix, connectTimeout })
  return new ClusterAdapter(transport, { ttl })
}

function isCluster (client: RedisClient | RedisClusterClient | undefined): client is RedisClusterClient {
  return (client as RedisClusterClient | undefined)?.isCluster === true
}

function clusterNodes (value: unknown): Array<{ host: string, port: number }> | undefined {
  if (value === undefined) return undefined
  const ok = Array.isArray(value) && value.length > 0 && value.every((n: { host?: unknown, port?: unknown } | null) =>
    typeof n === 'object' && n !== null && typeof n.host === 'string' && n.host.length > 0 &&
    typeof n.port === 'number' && Number.isInteger(n.port) && n.port > 0 && n.port < 65536)
  if (!ok) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.cluster', 'expected a non-empty array of { host, port }')
  return value.map((n: { host: string, port: number }) => ({ host: n.host, port: n.port }))
}
