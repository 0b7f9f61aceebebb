import type { FastifyBaseLogger } from 'fastify'
import { errors } from '../../errors'
import type { MemberInfo } from '../adapter'
import type { ClaimReply, Description, HeartbeatReply, JoinReply, NodeMessage, PoolSettings, Snapshot, Transport, TransportListener } from '../cluster/transport'
import { decodeClaimReply, decodeJoinReply, decodePoolEvent, decodeSnapshot, descriptionJson, encodeNodeMessages } from './codec'
import { loadIoredis, waitReady } from './connection'
import { keySlot, nodeKeys, poolKeys, registryKeys, type PoolKeys } from './cluster-keys'
import { CLUSTER_SCRIPTS } from './cluster-scripts'
import { ShardSubscriber, type RedisNodeClient, type SlotMap } from './cluster-subscriber'
import { runScript, type Script, type ScriptClient } from './scripts'
import { deliverNodeMessages } from './transport'

/** The part of an ioredis `Cluster` this adapter uses (a structural type: the typings need no ioredis). */
export interface RedisClusterClient extends ScriptClient, SlotMap {
  readonly status: string
  readonly isCluster: boolean
  duplicate (...args: any[]): unknown
  nodes (role: 'master'): Array<RedisNodeClient & { call (command: string, ...args: Array<string | number>): Promise<unknown> }>
  /** For commands with options (SET ... GET), typed loosely by ioredis. */
  call (command: string, ...args: Array<string | number>): Promise<unknown>
  spublish (channel: string, message: string): Promise<unknown>
  get (key: string): Promise<string | null>
  del (...keys: string[]): Promise<number>
  exists (key: string): Promise<number>
  sadd (key: string, member: string): Promise<number>
  srem (key: string, member: string): Promise<number>
  sismember (key: string, member: string): Promise<number>
  smembers (key: string): Promise<string[]>
  hset (key: string, field: string, value: string): Promise<number>
  hget (key: string, field: string): Promise<string | null>
  hdel (key: string, ...fields: string[]): Promise<number>
  hkeys (key: string): Promise<string[]>
  hgetall (key: string): Promise<Record<string, string>>
  quit (): Promise<unknown>
  disconnect (): void
}

export interface ClusterTransportSettings {
  /** Masters (or any nodes) to discover the cluster from, when no client is given. */
  nodes: Array<{ host: string, port: number }>
  client?: RedisClusterClient
  prefix: string
  connectTimeout: number
}

interface Route {
  pool: string
  events: boolean
}

const noop = (): void => {}
const MAX_CACHED_POOLS = 10_000

/**
 * The cluster transport on Redis Cluster (or Valkey cluster): every key and both channels of a
 * pool carry its hash tag (cluster-keys.ts), so each membership script runs in one slot and its
 * event goes out with SPUBLISH on the pool's shard channel. Frames for a member on process N go on
 * the pool's `to:N` shard channel, in order with the pool's events; a process subscribes to both
 * while it follows the pool (ShardSubscriber). Liveness: each process's own keys and a registry
 * written only when a process first shows up or is reaped.
 */
export class RedisClusterTransport implements Transport {
  readonly name = 'Redis'
  private cmd: RedisClusterClient | null = null
  private shards: ShardSubscriber | null = null
  private readonly routes = new Map<string, Route>()
  private readonly registry: { nodes: string, epoch: string }
  private node = ''
  private nodeChannel = ''
  private owned = false
  private readonly listeners: Array<[string, (...args: any[]) => void]> = []
  /**
   * Members admitted while this process's own keys were out of reach (their shard down): id ->
   * pool, listed for the reaper by the next heartbeat that reaches them.
   */
  private readonly unlisted = new Map<string, string>()
  /** Pool -> its `to:` channel prefix and slot, for the relay's hot path (bounded: cleared when full). */
  private readonly frameChannels = new Map<string, { prefix: string, slot: number }>()

  constructor (private readonly settings: ClusterTransportSettings) {
    this.registry = registryKeys(settings.prefix)
  }

  get writable (): boolean {
    return this.cmd?.status === 'ready'
  }

  /** A shard in doubt does not count: the adapter hears of its pools (`lost`, `restored`). */
  get ready (): boolean {
    return this.writable && this.shards !== null
  }

  unavailable (detail: string): Error {
    return new errors.FST_RTC_REDIS_UNAVAILABLE(detail)
  }

  private get open (): RedisClusterClient {
    if (this.cmd === null) throw this.unavailable('not connected')
    return this.cmd
  }

  async connect (node: string, log: FastifyBaseLogger, listener: TransportListener): Promise<void> {
    this.node = node
    const own = nodeKeys(this.settings.prefix, node)
    this.nodeChannel = own.channel
    let cmd = this.settings.client
    if (cmd === undefined) {
      const { Cluster } = await loadIoredis()
      // As for one server (connection.ts): no offline queue, and a command in flight when its
      // master's connection closes (or the cluster is down) fails instead of being sent again
      // after the failover: a relayed frame sent again then would arrive after newer ones.
      cmd = new Cluster(this.settings.nodes, {
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        redisOptions: { maxRetriesPerRequest: 0, protocol: 2, connectionName: `rtc-cmd-${node}` }
      }) as RedisClusterClient
      this.owned = true
    }
    this.cmd = cmd
    const listen = (event: string, fn: (...args: any[]) => void): void => {
      cmd.on(event, fn)
      this.listeners.push([event, fn])
    }
    let quiet = false
    listen('error', (err: Error) => {
      if (!quiet) log.warn({ err }, 'rtc: Redis Cluster error')
      quiet = true
    })
    listen('close', () => listener.down())
    listen('ready', () => {
      quiet = false
      if (this.ready) listener.ready()
    })
    try {
      const what = `Redis Cluster (${this.settings.client === undefined ? this.settings.nodes.map((n) => `${n.host}:${n.port}`).join(', ') : 'the given client'})`
      await waitReady(cmd, this.settings.connectTimeout, what)
      // 'ready' means the slots are known; ioredis opens each master's connection on its first
      // command. Without an offline queue, a second command sent while that connection is opening
      // fails ("Connection is closed"): open them all now (a given client may lack auto-pipelining).
      await Promise.all(cmd.nodes('master').map(async (n) => {
        if (n.status === 'wait') await n.connect()
        else await waitReady(n, this.settings.connectTimeout, `${what}: ${n.options.host ?? '?'}:${n.options.port ?? '?'}`)
      }))
      this.shards = new ShardSubscriber(cmd, log, {
        message: (channel, text) => this.route(channel, text, listener, log),
        lost: (channels) => listener.lost(this.poolsOf(channels)),
        restored: (channels) => listener.restored(this.poolsOf(channels))
      })
      await this.shards.subscribe([this.nodeChannel])
    } catch (err) {
      await this.disconnect()
      throw err instanceof errors.FST_RTC_REDIS_UNAVAILABLE ? err : this.unavailable((err as Error).message)
    }
  }

  /** The pools whose channels these are (this process's own channel, which carries kicks, is none). */
  private poolsOf (channels: string[]): string[] {
    const pools = new Set<string>()
    for (const c of channels) {
      const route = this.routes.get(c)
      if (route !== undefined) pools.add(route.pool)
    }
    return Array.from(pools)
  }

  private route (channel: string, text: string, listener: TransportListener, log: FastifyBaseLogger): void {
    if (channel === this.nodeChannel) return deliverNodeMessages(listener, log, text)
    const route = this.routes.get(channel)
    if (route === undefined) return
    if (!route.events) return deliverNodeMessages(listener, log, text, route.pool)
    try {
      listener.message({ type: 'pool', pool: route.pool, event: decodePoolEvent(text) })
    } catch (err) {
      log.error({ err, pool: route.pool }, 'rtc: unreadable pool event')
    }
  }

  async disconnect (): Promise<void> {
    this.shards?.close()
    this.shards = null
    const cmd = this.cmd
    if (cmd === null) return
    this.cmd = null
    for (const [event, fn] of this.listeners) cmd.removeListener(event, fn)
    this.listeners.length = 0
    cmd.on('error', noop)
    if (this.owned) await cmd.quit().catch(() => cmd.disconnect())
  }

  // ---------------------------------------------------------------------------------------------
  // Channels

  private channels (pool: string): [string, string] {
    const k = poolKeys(this.settings.prefix, pool)
    return [k.ev, k.to + this.node]
  }

  subscribe (pool: string): Promise<unknown> {
    const [ev, to] = this.channels(pool)
    this.routes.set(ev, { pool, events: true })
    this.routes.set(to, { pool, events: false })
    if (this.shards === null) return Promise.reject(this.unavailable('not connected'))
    return this.shards.subscribe([ev, to])
  }

  unsubscribe (pool: string): void {
    const channels = this.channels(pool)
    for (const c of channels) this.routes.delete(c)
    this.shards?.unsubscribe(channels)
  }

  async resubscribe (): Promise<void> {
    if (this.shards === null) throw this.unavailable('not connected')
    await this.shards.resubscribe()
  }

  /**
   * One SPUBLISH per master the batch's pools live on (kicks: on the process's own channel). A
   * group goes out on the `to:` channel of its first pool: the target follows that pool (its member
   * is there), and its subscriber connection to that master carries the other pools' events too,
   * so each frame still arrives after the events it follows from, as Redis executed them.
   */
  publish (node: string, messages: readonly NodeMessage[]): Promise<unknown> {
    const cmd = this.open
    const groups = new Map<string, { channel: string, list: NodeMessage[] }>()
    for (const m of messages) {
      let master = '~kick'
      let channel = nodeKeys(this.settings.prefix, node).channel
      if (m.type !== 'kick') {
        const to = this.frameChannel(m.pool)
        channel = to.prefix + node
        master = cmd.slots[to.slot]?.[0] ?? channel
      }
      const group = groups.get(master)
      if (group === undefined) groups.set(master, { channel, list: [m] })
      else group.list.push(m)
    }
    if (groups.size === 1) {
      const [{ channel, list }] = groups.values()
      return cmd.spublish(channel, encodeNodeMessages(list))
    }
    return Promise.all(Array.from(groups.values(), ({ channel, list }) => cmd.spublish(channel, encodeNodeMessages(list))))
  }

  private frameChannel (pool: string): { prefix: string, slot: number } {
    let to = this.frameChannels.get(pool)
    if (to === undefined) {
      if (this.frameChannels.size >= MAX_CACHED_POOLS) this.frameChannels.clear()
      const prefix = poolKeys(this.settings.prefix, pool).to
      to = { prefix, slot: keySlot(prefix) }
      this.frameChannels.set(pool, to)
    }
    return to
  }

  // ---------------------------------------------------------------------------------------------
  // Membership: one script each, in the pool's slot

  private async run (script: Script, k: PoolKeys, ...args: Array<string | number>): Promise<unknown> {
    const cmd = this.open
    if (cmd.status !== 'ready') throw this.unavailable(`connection ${cmd.status}`)
    try {
      return await runScript(cmd, script, k.keys, [k.ev, ...args])
    } catch (err) {
      if (cmd.status !== 'ready') throw this.unavailable(`connection lost (${(err as Error).message})`)
      throw err
    }
  }

  async join (pool: string, member: MemberInfo, create: boolean, maxMembers: number): Promise<JoinReply> {
    const members = nodeKeys(this.settings.prefix, member.node).members
    const k = poolKeys(this.settings.prefix, pool)
    // The process's list first (another slot), so a reaper finds every member it may have to
    // remove. Its shard down (the pool's is up): the join goes on and the entry is written later.
    const [listed, raw] = await Promise.all([
      this.open.hset(members, member.id, pool).then(() => true, () => false),
      this.run(CLUSTER_SCRIPTS.join, k, pool, member.id, member.node, descriptionJson(member.description), create ? '1' : '0', maxMembers)
    ])
    const reply = decodeJoinReply(raw)
    const admitted = reply.status === 'ok' || reply.status === 'present'
    if (!listed && admitted) this.unlisted.set(member.id, pool)
    if (listed && !admitted) await this.open.hdel(members, member.id)
    return reply
  }

  /** Lists the members admitted while this process's own keys were out of reach. */
  private async listUnlisted (): Promise<void> {
    const members = nodeKeys(this.settings.prefix, this.node).members
    for (const [id, pool] of Array.from(this.unlisted)) {
      await this.open.hset(members, id, pool)
      this.unlisted.delete(id)
    }
  }

  async leave (pool: string | null, id: string): Promise<number> {
    const members = nodeKeys(this.settings.prefix, this.node).members
    this.unlisted.delete(id)
    const name = pool ?? await this.open.hget(members, id)
    const seq = name === null ? 0 : Number(await this.run(CLUSTER_SCRIPTS.leave, poolKeys(this.settings.prefix, name), id, this.node))
    // Its shard down: the stale entry is removed by a later resync (or reaping finds nobody).
    await this.open.hdel(members, id).catch(noop)
    return seq
  }

  async describe (pool: string, id: string, description: Description): Promise<number> {
    return Number(await this.run(CLUSTER_SCRIPTS.describe, poolKeys(this.settings.prefix, pool), id, descriptionJson(description)))
  }

  async token (pool: string, id: string, tokenHash: string): Promise<unknown> {
    return await this.run(CLUSTER_SCRIPTS.token, poolKeys(this.settings.prefix, pool), id, tokenHash)
  }

  /** The old process's liveness is another slot: checked first (a process that dies in between never hands over: the claimer times out). */
  async claim (pool: string, id: string, tokenHash: string, node: string, received: number): Promise<ClaimReply> {
    const prefix = this.settings.prefix
    const k = poolKeys(prefix, pool)
    const cmd = this.open
    const from = await cmd.hget(k.keys[3], id)
    if (from === null || from === node || await cmd.exists(nodeKeys(prefix, from).alive) === 0) return { status: 'unknown' }
    await cmd.hset(nodeKeys(prefix, node).members, id, pool)
    const reply = decodeClaimReply(await this.run(CLUSTER_SCRIPTS.claim, k, id, tokenHash, node, received), id, node)
    await cmd.hdel(nodeKeys(prefix, reply.status === 'ok' ? reply.from : node).members, id)
    return reply
  }

  async markSuspended (pool: string, id: string, node: string, suspended: boolean): Promise<unknown> {
    return await this.run(CLUSTER_SCRIPTS.suspended, poolKeys(this.settings.prefix, pool), id, node, suspended ? '1' : '0')
  }

  async suspendedIn (pool: string): Promise<string[]> {
    return await this.open.smembers(poolKeys(this.settings.prefix, pool).keys[5])
  }

  async create (settings: PoolSettings): Promise<number> {
    return Number(await this.run(CLUSTER_SCRIPTS.create, poolKeys(this.settings.prefix, settings.name), settings.name, settings.maxMembers))
  }

  async close (pool: string): Promise<number> {
    const [seq, ...removed] = await this.run(CLUSTER_SCRIPTS.close, poolKeys(this.settings.prefix, pool)) as [number, ...string[]]
    const cmd = this.open
    const forgets: Array<Promise<number>> = []
    for (let i = 0; i + 1 < removed.length; i += 2) forgets.push(cmd.hdel(nodeKeys(this.settings.prefix, removed[i + 1]).members, removed[i]))
    await Promise.all(forgets)
    return Number(seq)
  }

  async snapshot (pool: string): Promise<{ seq: number, snapshot: Snapshot | null }> {
    const [seq, raw] = await this.run(CLUSTER_SCRIPTS.snapshot, poolKeys(this.settings.prefix, pool)) as [number, unknown]
    return { seq: Number(seq), snapshot: decodeSnapshot(Number(seq), raw) }
  }

  /** Every pool: a SCAN of each master for pool keys (no registry of pools to keep in one slot). */
  async list (): Promise<Snapshot[]> {
    const cmd = this.open
    const pattern = `${this.settings.prefix.replace(/[*?[\]\\]/g, '\\$&')}{*}pool`
    const names = new Set<string>()
    for (const master of cmd.nodes('master')) {
      let cursor = '0'
      do {
        const [next, keys] = await master.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 500) as [string, string[]]
        cursor = next
        for (const key of keys) {
          const name = await cmd.hget(key, 'name')
          if (name !== null) names.add(name)
        }
      } while (cursor !== '0')
    }
    const snapshots: Snapshot[] = []
    for (const name of names) {
      const { snapshot } = await this.snapshot(name)
      if (snapshot !== null) snapshots.push(snapshot)
    }
    return snapshots
  }

  async locate (id: string): Promise<{ pool: string, node: string } | null> {
    const cmd = this.open
    const nodes = await cmd.smembers(this.registry.nodes)
    const pools = await Promise.all(nodes.map((n) => cmd.hget(nodeKeys(this.settings.prefix, n).members, id)))
    const at = pools.findIndex((p) => p !== null)
    return at < 0 ? null : { node: nodes[at], pool: pools[at] as string }
  }

  /**
   * The liveness key (SET ... GET: it was there, or the process was taken for dead or its shard
   * lost it), a read of the registry (joined again when missing) and of the epoch: no key is
   * written by every process on every beat.
   */
  async heartbeat (node: string, ttl: number, epochCandidate: string): Promise<HeartbeatReply> {
    const cmd = this.open
    if (this.unlisted.size > 0) await this.listUnlisted().catch(noop) // its shard may still be down
    const { nodes, epoch } = this.registry
    const [previous, registered, current] = await Promise.all([
      cmd.call('SET', nodeKeys(this.settings.prefix, node).alive, '1', 'PX', ttl, 'GET'),
      cmd.sismember(nodes, node),
      cmd.get(epoch)
    ])
    if (registered !== 1) await cmd.sadd(nodes, node)
    let value = current
    if (value === null) {
      await cmd.call('SET', epoch, epochCandidate, 'NX')
      value = await cmd.get(epoch)
    }
    return { known: previous !== null && registered === 1, epoch: String(value), seq: null }
  }

  /** Removes the members of each process whose liveness key is gone (or of `node`): one leave script per member, in its pool's slot. */
  async reap (node?: string): Promise<Array<{ node: string, members: number }>> {
    const cmd = this.open
    const prefix = this.settings.prefix
    let targets = node === undefined ? await cmd.smembers(this.registry.nodes) : [node]
    if (node === undefined) {
      const alive = await Promise.all(targets.map((n) => cmd.exists(nodeKeys(prefix, n).alive)))
      targets = targets.filter((n, i) => alive[i] === 0)
    }
    const removed: Array<{ node: string, members: number }> = []
    for (const n of targets) {
      const keys = nodeKeys(prefix, n)
      const members = Object.entries(await cmd.hgetall(keys.members))
      const seqs = await Promise.all(members.map(([id, pool]) => this.run(CLUSTER_SCRIPTS.leave, poolKeys(prefix, pool), id, n)))
      if (members.length > 0) await cmd.hdel(keys.members, ...members.map(([id]) => id))
      if (node !== undefined) await cmd.del(keys.alive)
      await cmd.srem(this.registry.nodes, n)
      removed.push({ node: n, members: seqs.filter((s) => Number(s) > 0).length })
    }
    return removed
  }

  async nodeMembers (node: string): Promise<string[]> {
    return await this.open.hkeys(nodeKeys(this.settings.prefix, node).members)
  }
}
