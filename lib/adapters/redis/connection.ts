import type { FastifyBaseLogger } from 'fastify'
import { errors } from '../../errors'
import type { RedisClient } from './index'

export interface ConnectionSettings {
  /** Used when no client is given. */
  url: string
  client?: RedisClient
  /** Milliseconds to wait for both connections. */
  connectTimeout: number
}

export interface ConnectionEvents {
  message (channel: string, message: string): void
  /** Both connections are ready (again). */
  ready (): void
  /** A connection closed. */
  down (): void
}

type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClient
type ClusterConstructor = new (nodes: Array<{ host: string, port: number }>, options: Record<string, unknown>) => unknown
type Listener = (...args: any[]) => void

const noop = (): void => {}

/** ioredis is loaded only when a URL or cluster nodes are used: users of the in-memory adapter never install it. */
export async function loadIoredis (): Promise<{ Redis: RedisConstructor, Cluster: ClusterConstructor }> {
  try {
    const ioredis = await import('ioredis')
    return { Redis: ioredis.Redis as unknown as RedisConstructor, Cluster: ioredis.Cluster as unknown as ClusterConstructor }
  } catch (err) {
    throw new errors.FST_RTC_INVALID_OPTION('adapter', `redisAdapter() needs the ioredis package (npm install ioredis): ${(err as Error).message}`)
  }
}

/**
 * The adapter's two connections: one for commands (scripts and relay publishes) and one subscriber
 * (pool channels and this process's channel). Redis delivers to a connection in execution order,
 * which is what keeps events and frames in order. The command connection is ours unless a client
 * was given; the subscriber always is.
 */
export class RedisConnections {
  private readonly listeners: Array<[RedisClient, string, Listener]> = []
  /** Connections whose error since they were last ready is logged already (ioredis reports every retry). */
  private readonly quiet = new Set<RedisClient>()
  private closed = false

  private constructor (
    readonly cmd: RedisClient,
    readonly sub: RedisClient,
    private readonly owned: boolean,
    private readonly log: FastifyBaseLogger
  ) {}

  /** Opens both connections and resolves once both are ready; rejects (FST_RTC_REDIS_UNAVAILABLE) after the timeout. */
  static async open (settings: ConnectionSettings, node: string, log: FastifyBaseLogger, events: ConnectionEvents): Promise<RedisConnections> {
    let cmd = settings.client
    if (cmd === undefined) {
      const { Redis } = await loadIoredis()
      // Commands fail at once while Redis is unreachable instead of queueing without bound, and
      // those in flight when the connection drops fail too (maxRetriesPerRequest 0) instead of being
      // sent again after the reconnection: by then they are stale (a relayed frame would reach a peer
      // told its sender had left, a script would replay into a Redis that lost its data). RESP2
      // (ioredis 6 defaults to RESP3) and auto-pipelining each cut the cost of a relayed frame by a fifth or more.
      cmd = new Redis(settings.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        enableAutoPipelining: true,
        protocol: 2,
        connectionName: `rtc-cmd-${node}`
      })
    }
    const sub = cmd.duplicate({ enableOfflineQueue: true, enableAutoPipelining: false, autoResubscribe: true, protocol: 2, connectionName: `rtc-sub-${node}` })
    const connections = new RedisConnections(cmd, sub, settings.client === undefined, log)
    connections.watch(events)
    try {
      await connections.whenReady(settings.connectTimeout, settings.client === undefined ? settings.url : undefined)
    } catch (err) {
      await connections.close()
      throw err
    }
    return connections
  }

  get ready (): boolean {
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready'
  }

  private watch (events: ConnectionEvents): void {
    for (const [client, which] of [[this.cmd, 'command'], [this.sub, 'subscriber']] as const) {
      this.listen(client, 'error', (err: Error) => {
        if (this.quiet.has(client)) return
        this.quiet.add(client)
        this.log.warn({ err, connection: which }, 'rtc: Redis connection error')
      })
      this.listen(client, 'close', () => events.down())
      this.listen(client, 'ready', () => {
        this.quiet.delete(client)
        if (this.ready) events.ready()
      })
    }
    this.listen(this.sub, 'message', (channel: string, message: string) => events.message(channel, message))
  }

  private listen (client: RedisClient, event: string, fn: Listener): void {
    client.on(event, fn)
    this.listeners.push([client, event, fn])
  }

  /** Resolves once both connections are ready; rejects after `ms`. */
  private async whenReady (ms: number, url: string | undefined): Promise<void> {
    await Promise.all([waitReady(this.cmd, ms, redactUrl(url)), waitReady(this.sub, ms, redactUrl(url))])
  }

  /** Closes the subscriber, and the command connection when it is ours (idempotent). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const [client, event, fn] of this.listeners) client.removeListener(event, fn)
    this.listeners.length = 0
    // Keep an 'error' listener on connections being shut down, so a late error cannot crash the process.
    this.sub.on('error', noop)
    this.sub.disconnect()
    if (this.owned) {
      this.cmd.on('error', noop)
      await this.cmd.quit().catch(() => this.cmd.disconnect())
    }
  }
}

/** Resolves when `client` is ready (now or on its 'ready'); rejects (FST_RTC_REDIS_UNAVAILABLE) after `ms`. */
export function waitReady (client: Pick<RedisClient, 'status' | 'on' | 'removeListener'>, ms: number, what: string): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const ready = (): void => {
      clearTimeout(timer)
      client.removeListener('ready', ready)
      resolve()
    }
    const timer = setTimeout(() => {
      client.removeListener('ready', ready)
      reject(new errors.FST_RTC_REDIS_UNAVAILABLE(`not ready within ${ms} ms (${what})`))
    }, ms)
    timer.unref()
    client.on('ready', ready)
  })
}

/** A Redis URL for a message or a log: never its password. */
export function redactUrl (url: string | undefined): string {
  if (url === undefined) return 'the given client'
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'an unparsable URL'
  }
}
