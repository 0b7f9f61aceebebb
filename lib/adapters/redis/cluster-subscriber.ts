import type { FastifyBaseLogger } from 'fastify'
import { keySlot } from './cluster-keys'

/** A connection to one master, as ioredis gives it (cluster.nodes('master')). */
export interface RedisNodeClient {
  readonly status: string
  readonly options: { host?: string, port?: number }
  duplicate (override?: Record<string, unknown>): RedisNodeClient
  on (event: string, listener: (...args: any[]) => void): unknown
  removeListener (event: string, listener: (...args: any[]) => void): unknown
  connect (): Promise<void>
  removeAllListeners (): unknown
  ssubscribe (...channels: string[]): Promise<unknown>
  sunsubscribe (...channels: string[]): Promise<unknown>
  disconnect (): void
}

/** What the subscriber needs of the command Cluster: its slot map and its masters. */
export interface SlotMap {
  /** Slot -> node keys ('host:port'), master first. */
  readonly slots: string[][]
  nodes (role: 'master'): RedisNodeClient[]
  refreshSlotsCache (callback?: (err?: Error | null) => void): void
  on (event: string, listener: (...args: any[]) => void): unknown
  removeListener (event: string, listener: (...args: any[]) => void): unknown
}

export interface ShardEvents {
  message (channel: string, text: string): void
  /** These channels' subscriptions may have missed messages (their shard's connection closed, their slot moved). */
  lost (channels: string[]): void
  /** These channels (of one slot) are subscribed again on the master that owns their slot. */
  restored (channels: string[]): void
}

interface Shard {
  conn: RedisNodeClient
  channels: Set<string>
}

/** How often the slot map is refreshed while a subscription is in doubt (a failover takes seconds). */
const RETRY_MS = 500

const noop = (): void => {}

/**
 * Sharded pub/sub (SSUBSCRIBE) across a Redis Cluster: one subscriber connection per master that
 * owns a slot of a subscribed channel. Redis delivers what one master publishes to one connection
 * in order, so a pool's events and frames (same slot) keep their order. When a shard's connection
 * closes or a slot moves (failover, migration: Redis sends `sunsubscribe`), its channels are in
 * doubt: `lost` is reported for them, the slot map is refreshed until each is subscribed on the
 * master that owns it now, and `restored` is reported for each slot's channels as they are (the
 * adapter resyncs what their pools may have missed). The other shards' channels are not affected.
 */
export class ShardSubscriber {
  private readonly shards = new Map<string, Shard>()
  /** Channel -> the node key it is subscribed on. */
  private readonly owners = new Map<string, string>()
  private readonly doubt = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private readonly onRefresh = (): void => { this.reconcile() }

  constructor (private readonly map: SlotMap, private readonly log: FastifyBaseLogger, private readonly events: ShardEvents) {
    map.on('refresh', this.onRefresh)
  }

  /** Subscribes channels of one slot; retries once on the new owner when the slot map was stale. */
  async subscribe (channels: string[]): Promise<void> {
    try {
      await this.subscribeOn(channels)
    } catch (err) {
      if (!/MOVED|ASK|CLUSTERDOWN|closed|Connection/i.test(String((err as Error).message))) throw err
      await this.refresh()
      await this.subscribeOn(channels)
    }
  }

  unsubscribe (channels: string[]): void {
    for (const channel of channels) {
      const key = this.owners.get(channel)
      this.owners.delete(channel)
      this.doubt.delete(channel)
      if (key === undefined) continue
      const shard = this.shards.get(key)
      if (shard === undefined) continue
      shard.channels.delete(channel)
      if (shard.conn.status === 'ready') shard.conn.sunsubscribe(channel).catch(noop)
      this.dropIfIdle(key, shard)
    }
  }

  /** Subscribes every channel again on its slot's master (after an outage). */
  async resubscribe (): Promise<void> {
    for (const channel of this.owners.keys()) this.doubt.add(channel)
    await this.refresh()
    await this.settle()
  }

  close (): void {
    this.closed = true
    this.map.removeListener('refresh', this.onRefresh)
    if (this.timer !== null) clearTimeout(this.timer)
    for (const shard of this.shards.values()) this.stop(shard)
    this.shards.clear()
  }

  private async subscribeOn (channels: string[]): Promise<void> {
    const key = this.ownerOf(channels[0])
    const shard = this.shard(key)
    for (const channel of channels) {
      const old = this.owners.get(channel)
      const before = old === undefined || old === key ? undefined : this.shards.get(old)
      if (before !== undefined) {
        before.channels.delete(channel)
        this.dropIfIdle(old as string, before)
      }
      this.owners.set(channel, key)
      shard.channels.add(channel)
    }
    await shard.conn.ssubscribe(...channels)
    for (const channel of channels) if (this.owners.get(channel) === key) this.doubt.delete(channel)
  }

  private ownerOf (channel: string): string {
    const key = this.map.slots[keySlot(channel)]?.[0]
    if (key === undefined) throw new Error(`no master owns the slot of ${channel}`)
    return key
  }

  private shard (key: string): Shard {
    let shard = this.shards.get(key)
    if (shard !== undefined) return shard
    const node = this.map.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === key)
    if (node === undefined) throw new Error(`no connection to master ${key}`)
    // Commands fail while it reconnects (a dead master never comes back: its slots move instead).
    const conn = node.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: 0, autoResubscribe: false, readOnly: false, connectionName: 'rtc-ssub' })
    shard = { conn, channels: new Set() }
    const s = shard
    conn.on('smessage', (channel: string, text: string) => this.events.message(channel, text))
    conn.on('error', (err: Error) => this.log.debug({ err, shard: key }, 'rtc: Redis Cluster subscriber error'))
    conn.on('close', () => this.inDoubt(s, 'connection closed'))
    conn.on('moved', () => this.inDoubt(s, 'slot moved'))
    // Ended (cluster nodes do not reconnect): the next subscribe on this master opens a new connection.
    conn.on('end', () => {
      if (this.shards.get(key) !== s) return
      this.shards.delete(key)
      this.stop(s)
    })
    this.shards.set(key, shard)
    return shard
  }

  private inDoubt (shard: Shard, why: string): void {
    if (this.closed || shard.channels.size === 0) return
    this.schedule()
    // A connection that fails again while its master is down says nothing new.
    const fresh = Array.from(shard.channels).filter((c) => !this.doubt.has(c))
    if (fresh.length === 0) return
    this.log.warn({ channels: fresh.length, why }, 'rtc: Redis Cluster subscriptions in doubt: resubscribing where their slots live now')
    for (const channel of fresh) this.doubt.add(channel)
    this.events.lost(fresh)
  }

  private schedule (): void {
    if (this.timer !== null || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.doubt.size === 0) return
      this.map.refreshSlotsCache(noop) // 'refresh' reconciles
      this.schedule()
    }, RETRY_MS)
    this.timer.unref()
  }

  private refresh (): Promise<void> {
    return new Promise((resolve) => this.map.refreshSlotsCache(() => resolve()))
  }

  /** The slot map changed: channels whose slot moved are in doubt and follow it. */
  private reconcile (): void {
    if (this.closed) return
    const moved: string[] = []
    for (const [channel, key] of this.owners) {
      const now = this.map.slots[keySlot(channel)]?.[0]
      if (now !== undefined && now !== key && !this.doubt.has(channel)) {
        this.doubt.add(channel)
        moved.push(channel)
      }
    }
    if (moved.length > 0) this.events.lost(moved)
    if (this.doubt.size > 0) this.settle().catch(noop)
  }

  /**
   * Subscribes the channels in doubt where they live now, each slot's on its own (a shard still
   * down does not hold back the others); reports `restored` for each slot's as it is done.
   */
  private async settle (): Promise<void> {
    const bySlot = new Map<number, string[]>()
    for (const channel of this.doubt) {
      const slot = keySlot(channel)
      bySlot.get(slot)?.push(channel) ?? bySlot.set(slot, [channel])
    }
    await Promise.all(Array.from(bySlot.values(), async (channels) => {
      try {
        await this.subscribeOn(channels)
      } catch (err) {
        this.log.debug({ err }, 'rtc: Redis Cluster resubscribe failed; retrying')
        this.schedule()
        return
      }
      const back = channels.filter((c) => this.owners.has(c) && !this.doubt.has(c))
      if (back.length > 0 && !this.closed) this.events.restored(back)
    }))
  }

  private dropIfIdle (key: string, shard: Shard): void {
    if (shard.channels.size > 0) return
    this.shards.delete(key)
    this.stop(shard)
  }

  private stop (shard: Shard): void {
    shard.conn.removeAllListeners()
    shard.conn.on('error', noop)
    shard.conn.disconnect()
  }
}
