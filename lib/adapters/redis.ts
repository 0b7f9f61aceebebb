import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { errors } from '../errors'
import type { PoolView as Pool } from '../core/pool-view'
import type { Description, PoolInfo, PoolSettings } from '../types'
import type { Adapter, AdapterHost, JoinOutcome, JoinPolicy, MemberInfo } from './adapter'
import { SCRIPTS, type Script } from './redis-scripts'

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
   * subscriber connection (closed with the app); the client itself stays yours to close.
   */
  client?: RedisClient
  /** Prefix of every key and channel, so several clusters can share one Redis. Default `rtc:`. */
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
/** How long an operation waits for its own event to come back through the subscriber before applying it directly. */
const STREAM_WAIT_MS = 5000

/** A call that needs Redis while it is unreachable. */
const RedisUnavailableError = errors.FST_RTC_REDIS_UNAVAILABLE

const UNAVAILABLE: JoinOutcome = Object.freeze({
  ok: false,
  reason: 'join-denied',
  message: 'The signalling cluster cannot admit new members right now (Redis is unreachable): try again shortly'
})

interface Snapshot {
  seq: number
  settings: PoolSettings
  members: Array<MemberInfo & { raw: string }>
}

interface PoolEvent {
  t: 'j' | 'l' | 'd' | 'c'
  s: number
  id?: string
  n?: string
  d?: Description
}

type Item = { pool: string, event: PoolEvent } | { pool: null, message: string }

interface PendingJoin {
  pool: string
  member: MemberInfo
  created: boolean
  snapshot: Snapshot | null
  eventSeen: boolean
  blocking: boolean
  timer: NodeJS.Timeout | null
  resolve: (outcome: JoinOutcome) => void
}

interface Channel {
  refs: number
  ready: Promise<unknown>
}

interface Waiter {
  seq: number
  resolve: (inStream: boolean) => void
  timer: NodeJS.Timeout
}

const noop = (): void => {}

/**
 * Makes every process that shares one Redis server one signalling cluster.
 *
 * - Membership lives in Redis and changes only through Lua scripts (atomic: the member limit holds
 *   cluster-wide), each of which numbers its event from one counter and publishes it on the pool's
 *   channel in the same step.
 * - Each process has ONE subscriber connection (pool channels of the pools it has a view of, plus its
 *   own relay channel) and ONE command connection (scripts and relay publishes). Redis delivers to a
 *   connection in execution order, so a process sees a join before any frame that follows from it,
 *   and frames from one sender to one receiver stay in order (docs/protocol.md, rules 4 and 9).
 * - Every change is applied to this process's views from the subscriber stream, in stream order: an
 *   operation started here resolves once its own event has come back (or, when the stream is down, is
 *   applied directly). A join applies its snapshot at its own event; if the event arrives before the
 *   script's reply, the stream waits for the reply.
 * - Liveness: a key per process with a TTL; every process periodically removes the members of
 *   processes whose key expired (one Lua script, so each member is removed and announced once).
 * - Redis lost: local members keep being served, joins are refused with `join-denied`, relay to other
 *   processes is dropped; when Redis is back this process re-announces its members and resyncs its views.
 */
class RedisAdapter implements Adapter {
  private host!: AdapterHost
  private log!: FastifyBaseLogger
  private node = ''
  private cmd!: RedisClient
  private sub!: RedisClient
  private ownsCmd = false
  private readonly prefix: string
  private readonly ttl: number
  private readonly url: string
  private readonly connectTimeout: number
  private readonly given: RedisClient | undefined
  private nodeChannel = ''
  private readonly evPrefix: string
  private readonly channels = new Map<string, Channel>()
  private readonly queue: Item[] = []
  private blocked = 0
  private readonly joins = new Map<string, PendingJoin>()
  private readonly leaving = new Set<string>()
  private waiters: Waiter[] = []
  private processed = 0
  private live = false
  private down = false
  private closed = false
  private closing = false
  private beaten = false
  private epoch: string | null = null
  private readonly epochCandidate = randomUUID()
  private recovering: Promise<void> | null = null
  private recoverAgain = false
  private timer: NodeJS.Timeout | null = null
  private dropped = 0
  private readonly listeners: Array<[RedisClient, string, (...args: any[]) => void]> = []

  constructor (opts: Required<Pick<RedisAdapterOptions, 'prefix' | 'ttl' | 'url' | 'connectTimeout'>> & { client?: RedisClient }) {
    this.prefix = opts.prefix
    this.ttl = opts.ttl
    this.url = opts.url
    this.connectTimeout = opts.connectTimeout
    this.given = opts.client
    this.evPrefix = `${opts.prefix}ev:`
  }

  // ---------------------------------------------------------------------------------------------
  // Connections

  async attach (host: AdapterHost): Promise<void> {
    this.host = host
    this.node = host.node
    this.log = host.log.child({ adapter: 'redis' })
    this.nodeChannel = `${this.prefix}to:${this.node}`
    if (this.given !== undefined) {
      this.cmd = this.given
    } else {
      let Redis: new (url: string, options: Record<string, unknown>) => RedisClient
      try {
        Redis = (await import('ioredis')).Redis as unknown as typeof Redis
      } catch (err) {
        throw new errors.FST_RTC_INVALID_OPTION('adapter', `redisAdapter() needs the ioredis package (npm install ioredis): ${(err as Error).message}`)
      }
      // Commands fail at once while Redis is unreachable instead of queueing without bound; RESP2
      // (ioredis 6 defaults to RESP3) and auto-pipelining each cut the cost of a relayed frame by a fifth or more.
      this.cmd = new Redis(this.url, { enableOfflineQueue: false, enableAutoPipelining: true, protocol: 2, connectionName: `rtc-cmd-${this.node}` })
      this.ownsCmd = true
    }
    this.sub = this.cmd.duplicate({ enableOfflineQueue: true, enableAutoPipelining: false, autoResubscribe: true, protocol: 2, connectionName: `rtc-sub-${this.node}` })
    this.listen(this.cmd, 'error', (err: Error) => this.onError('command', err))
    this.listen(this.sub, 'error', (err: Error) => this.onError('subscriber', err))
    this.listen(this.cmd, 'close', () => this.onDown())
    this.listen(this.sub, 'close', () => this.onDown())
    this.listen(this.cmd, 'ready', () => this.onReady())
    this.listen(this.sub, 'ready', () => this.onReady())
    this.listen(this.sub, 'message', (channel: string, message: string) => this.onMessage(channel, message))
    try {
      await this.waitReady()
      await this.sub.subscribe(this.nodeChannel)
      await this.beat()
    } catch (err) {
      await this.close()
      throw err
    }
    this.live = true
    const every = Math.max(50, Math.floor(this.ttl / 3))
    this.timer = setInterval(() => this.tick(), every)
    this.timer.unref()
  }

  private listen (client: RedisClient, event: string, fn: (...args: any[]) => void): void {
    client.on(event, fn)
    this.listeners.push([client, event, fn])
  }

  private ready (): boolean {
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready'
  }

  private waitReady (): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(poll)
        reject(new RedisUnavailableError(`not ready within ${this.connectTimeout} ms (${redactUrl(this.url)})`))
      }, this.connectTimeout)
      const poll = setInterval(() => {
        if (!this.ready()) return
        clearTimeout(timer)
        clearInterval(poll)
        resolve()
      }, 10)
      timer.unref()
    })
  }

  private onError (which: string, err: Error): void {
    // ioredis reports every failed reconnection attempt: the outage is logged once, in onDown.
    if (this.down || this.closed) return
    this.log.warn({ err, connection: which }, 'rtc: Redis connection error')
  }

  private onDown (): void {
    if (this.closed || this.down) return
    this.down = true
    this.live = false
    this.log.error({ dropped: this.dropped }, 'rtc: lost Redis: serving local members only, refusing joins and dropping relay to other processes until it is back')
    // Nothing more will come back through the subscriber: finish what waits for it.
    for (const w of this.waiters) { clearTimeout(w.timer); w.resolve(false) }
    this.waiters = []
    for (const pj of Array.from(this.joins.values())) if (pj.snapshot !== null) this.finishJoin(pj, false)
  }

  private onReady (): void {
    if (this.closed || !this.down || !this.ready()) return
    this.recover('Redis reconnected')
  }

  async close (): Promise<void> {
    if (this.closed || this.closing) return
    this.closing = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    // Leave the cluster at once (members still here are announced closed) rather than after the TTL.
    if (this.cmd !== undefined && this.cmd.status === 'ready' && this.beaten) {
      await this.run(SCRIPTS.reap, this.node).catch((err: unknown) => this.log.warn({ err }, 'rtc: could not leave the cluster cleanly'))
    }
    this.closed = true
    for (const w of this.waiters) { clearTimeout(w.timer); w.resolve(false) }
    this.waiters = []
    for (const pj of this.joins.values()) {
      if (pj.timer !== null) clearTimeout(pj.timer)
      pj.resolve(UNAVAILABLE)
    }
    this.joins.clear()
    this.queue.length = 0
    for (const [client, event, fn] of this.listeners) client.removeListener(event, fn)
    this.listeners.length = 0
    // Keep an 'error' listener on connections being shut down, so a late error cannot crash the process.
    this.sub?.on('error', noop)
    this.sub?.disconnect()
    if (this.ownsCmd) {
      this.cmd.on('error', noop)
      await this.cmd.quit().catch(() => this.cmd.disconnect())
    }
  }

  /** Runs a script by its SHA, loading it when Redis does not have it (first use, or after a restart). */
  private async run (script: Script, ...args: Array<string | number>): Promise<unknown> {
    if (this.cmd.status !== 'ready') throw new RedisUnavailableError(`connection ${this.cmd.status}`)
    try {
      return await this.cmd.evalsha(script.sha, 0, this.prefix, ...args)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
      return await this.cmd.eval(script.text, 0, this.prefix, ...args)
    }
  }

  private assertReady (): void {
    if (!this.ready()) throw new RedisUnavailableError(this.closed ? 'adapter closed' : 'reconnecting')
  }

  // ---------------------------------------------------------------------------------------------
  // Subscriptions: a pool's channel is subscribed while this process has a view of it or an operation on it

  private retain (pool: string): Channel {
    let ch = this.channels.get(pool)
    if (ch === undefined) {
      ch = { refs: 0, ready: this.sub.subscribe(this.evPrefix + pool) }
      ch.ready.catch(noop)
      this.channels.set(pool, ch)
    }
    ch.refs++
    return ch
  }

  private release (pool: string, ch: Channel | undefined): void {
    if (ch === undefined) return
    ch.refs--
    this.unsubscribeIfIdle(pool)
  }

  private unsubscribeIfIdle (pool: string): void {
    const ch = this.channels.get(pool)
    if (ch === undefined || ch.refs > 0 || this.host.view(pool) !== undefined) return
    this.channels.delete(pool)
    if (this.sub.status === 'ready') this.sub.unsubscribe(this.evPrefix + pool).catch(noop)
  }

  // ---------------------------------------------------------------------------------------------
  // The subscriber stream, applied in order

  private onMessage (channel: string, message: string): void {
    if (this.closed) return
    let item: Item
    if (channel === this.nodeChannel) {
      item = { pool: null, message }
    } else if (channel.startsWith(this.evPrefix)) {
      const pool = channel.slice(this.evPrefix.length)
      if (!this.channels.has(pool)) return
      try {
        item = { pool, event: JSON.parse(message) as PoolEvent }
      } catch (err) {
        this.log.error({ err, pool }, 'rtc: unreadable pool event')
        return
      }
    } else {
      return
    }
    if (this.blocked > 0 || this.queue.length > 0) this.queue.push(item)
    else this.process(item)
  }

  private drain (): void {
    while (this.blocked === 0 && this.queue.length > 0) this.process(this.queue.shift() as Item)
  }

  private process (item: Item): void {
    try {
      if (item.pool === null) this.processNodeMessage(item.message)
      else this.processPoolEvent(item.pool, item.event)
    } catch (err) {
      this.log.error({ err }, 'rtc: applying a cluster event failed')
    }
  }

  private processNodeMessage (message: string): void {
    const space = message.indexOf(' ')
    if (space < 2) return
    const id = message.slice(1, space)
    const rest = message.slice(space + 1)
    if (message[0] === 'd') this.host.deliver(id, rest)
    else if (message[0] === 'k') this.host.kickLocal(id, rest)
  }

  private processPoolEvent (pool: string, e: PoolEvent): void {
    const id = e.id as string
    switch (e.t) {
      case 'j': {
        const pj = this.joins.get(id)
        if (pj !== undefined && e.n === this.node && pj.pool === pool) {
          pj.eventSeen = true
          if (pj.snapshot !== null) {
            this.finishJoin(pj, true, e.s)
          } else {
            // Our own join, ahead of the script's reply: the stream waits for the snapshot.
            pj.blocking = true
            this.blocked++
          }
        } else {
          this.host.applyJoin(pool, { id, node: e.n as string, description: e.d ?? null }, e.s)
        }
        break
      }
      case 'l': {
        const view = this.host.view(pool)
        const mine = view !== undefined && e.s > view.seq ? view.members.get(id) : undefined
        if (mine?.endpoint !== undefined && !this.leaving.has(id) && !this.closing) {
          // Another process removed a member that is alive here: it took this process for dead
          // (its liveness key expired). Keep the member and re-announce it.
          this.log.warn({ peer: id, pool }, 'rtc: a live member was removed by another process (liveness key expired?): re-announcing')
          this.recover('members removed by another process')
        } else {
          this.host.applyLeave(pool, id, e.s)
          this.unsubscribeIfIdle(pool)
        }
        break
      }
      case 'd':
        this.host.applyDescribe(pool, id, e.d ?? null, e.s)
        break
      case 'c': {
        const view = this.host.view(pool)
        if (view !== undefined && e.s > view.seq) this.host.applyClose(pool)
        this.unsubscribeIfIdle(pool)
        break
      }
    }
    this.advance(e.s)
  }

  private advance (seq: number, force = false): void {
    if (seq <= this.processed && !force) return
    this.processed = seq
    if (this.waiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.waiters) {
      if (w.seq <= seq) { clearTimeout(w.timer); w.resolve(true) } else still.push(w)
    }
    this.waiters = still
  }

  /** Resolves true once the stream has applied event `seq` of a subscribed pool; false if it cannot (stream down, timeout). */
  private applied (pool: string, seq: number): Promise<boolean> {
    if (!this.live || !this.channels.has(pool)) return Promise.resolve(false)
    if (seq <= this.processed) return Promise.resolve(true)
    return new Promise((resolve) => {
      const w: Waiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w)
          this.log.warn({ pool, seq }, 'rtc: an event did not come back through the subscriber in time; applied directly')
          resolve(false)
        }, STREAM_WAIT_MS)
      }
      w.timer.unref()
      this.waiters.push(w)
    })
  }

  // ---------------------------------------------------------------------------------------------
  // Adapter: membership

  async join (pool: string, member: MemberInfo, policy: JoinPolicy): Promise<JoinOutcome> {
    if (!this.ready()) return UNAVAILABLE
    const ch = this.retain(pool)
    try {
      await ch.ready
    } catch {
      this.release(pool, ch)
      return UNAVAILABLE
    }
    let outcome: JoinOutcome
    try {
      outcome = await new Promise<JoinOutcome>((resolve) => {
        const pj: PendingJoin = { pool, member, created: false, snapshot: null, eventSeen: false, blocking: false, timer: null, resolve }
        this.joins.set(member.id, pj)
        this.run(SCRIPTS.join, pool, member.id, this.node, descriptionJson(member.description), policy.create ? '1' : '0', policy.maxMembers)
          .then((raw) => this.onJoinReply(pj, raw), (err: unknown) => this.onJoinFailed(pj, err))
      })
    } finally {
      this.release(pool, ch)
    }
    return outcome
  }

  private onJoinReply (pj: PendingJoin, raw: unknown): void {
    const reply = raw as [string, string?, number?, unknown?]
    const status = reply[0]
    if (status !== 'ok' && status !== 'present') {
      this.joins.delete(pj.member.id)
      pj.resolve(status === 'no-such-pool' || status === 'pool-full' ? { ok: false, reason: status } : UNAVAILABLE)
      return
    }
    pj.created = reply[1] === '1'
    pj.snapshot = parseSnapshot(Number(reply[2]), reply[3])
    if (pj.snapshot === null) {
      this.joins.delete(pj.member.id)
      pj.resolve({ ok: false, reason: 'no-such-pool' })
      return
    }
    if (pj.eventSeen || status === 'present' || !this.live) {
      this.finishJoin(pj, pj.eventSeen && this.live, pj.snapshot.seq)
      return
    }
    // The event is on its way through the subscriber; should it never come, apply the snapshot anyway.
    pj.timer = setTimeout(() => {
      this.log.warn({ pool: pj.pool, peer: pj.member.id }, 'rtc: a join event did not come back through the subscriber in time')
      this.finishJoin(pj, false)
    }, STREAM_WAIT_MS)
    pj.timer.unref()
  }

  private onJoinFailed (pj: PendingJoin, err: unknown): void {
    this.joins.delete(pj.member.id)
    this.log.warn({ err, pool: pj.pool, peer: pj.member.id }, 'rtc: join failed in Redis')
    if (pj.eventSeen) {
      // The script ran but its reply was lost: take the member out again.
      this.run(SCRIPTS.leave, pj.pool, pj.member.id).catch(noop)
    }
    pj.resolve(UNAVAILABLE)
    if (pj.blocking) {
      pj.blocking = false
      this.blocked--
      this.drain()
    }
  }

  /**
   * Brings this process's view up to the join's snapshot and applies the join (which sends the
   * joiner its rtc:joined). `inStream`: called at the join's own event, so the view is exactly the
   * state before it and the event's seq can be recorded.
   */
  private finishJoin (pj: PendingJoin, inStream: boolean, seq?: number): void {
    if (!this.joins.has(pj.member.id)) return
    this.joins.delete(pj.member.id)
    if (pj.timer !== null) clearTimeout(pj.timer)
    const snapshot = pj.snapshot as Snapshot
    try {
      const view = this.host.applyPool(snapshot.settings)
      for (const m of snapshot.members) {
        if (m.id === pj.member.id || view.members.has(m.id)) continue
        if (m.node === this.node && !this.joins.has(m.id)) continue // a stale entry of this process: not a peer
        this.host.applyJoin(pj.pool, m)
      }
      this.host.applyJoin(pj.pool, pj.member, inStream ? seq : undefined)
      if (view.members.get(pj.member.id)?.endpoint === undefined && this.host.view(pj.pool) === view) {
        // The socket closed while Redis admitted it: the manager can no longer undo this, so do it here.
        this.leave(pj.pool, pj.member.id).catch(noop)
      }
    } catch (err) {
      this.log.error({ err, pool: pj.pool }, 'rtc: applying a join failed')
    }
    pj.resolve({ ok: true, created: pj.created })
    if (pj.blocking) {
      pj.blocking = false
      this.blocked--
      this.drain()
    }
  }

  async leave (pool: string, id: string): Promise<void> {
    const ch = this.channels.get(pool)
    if (ch !== undefined) ch.refs++
    this.leaving.add(id)
    try {
      let inStream = false
      if (this.cmd.status === 'ready') {
        try {
          const seq = Number(await this.run(SCRIPTS.leave, pool, id))
          if (seq > 0) inStream = await this.applied(pool, seq)
        } catch (err) {
          this.log.warn({ err, pool, peer: id }, 'rtc: could not remove a member in Redis (it is removed when Redis is back)')
        }
      }
      // Idempotent: a no-op when the stream applied it already.
      if (!inStream) this.host.applyLeave(pool, id)
    } finally {
      this.leaving.delete(id)
      this.release(pool, ch)
    }
  }

  async describe (pool: string, id: string, description: Description): Promise<void> {
    this.assertReady()
    const ch = this.channels.get(pool)
    if (ch !== undefined) ch.refs++
    try {
      const seq = Number(await this.run(SCRIPTS.describe, pool, id, descriptionJson(description)))
      if (seq === 0) return
      if (!(await this.applied(pool, seq))) this.host.applyDescribe(pool, id, description)
    } finally {
      this.release(pool, ch)
    }
  }

  async createPool (settings: PoolSettings): Promise<boolean> {
    this.assertReady()
    const ch = this.retain(settings.name)
    try {
      await ch.ready
      const seq = Number(await this.run(SCRIPTS.create, settings.name, settings.maxMembers))
      if (seq === 0) return false
      const view = this.host.applyPool(settings)
      if (view.seq < seq) view.seq = seq
      return true
    } finally {
      this.release(settings.name, ch)
    }
  }

  async closePool (name: string): Promise<boolean> {
    this.assertReady()
    const ch = this.channels.get(name)
    if (ch !== undefined) ch.refs++
    try {
      const seq = Number(await this.run(SCRIPTS.close, name))
      if (seq === 0) return false
      if (!(await this.applied(name, seq))) this.host.applyClose(name)
      return true
    } finally {
      this.release(name, ch)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Adapter: routing and queries

  forward (node: string, targetId: string, text: string): void {
    if (node === this.node) {
      this.host.deliver(targetId, text)
      return
    }
    if (this.cmd.status !== 'ready') {
      this.dropped++
      return
    }
    this.cmd.publish(`${this.prefix}to:${node}`, `d${targetId} ${text}`).catch(() => { this.dropped++ })
  }

  async kick (node: string, targetId: string, reason: string): Promise<void> {
    if (node === this.node) {
      this.host.kickLocal(targetId, reason)
      return
    }
    this.assertReady()
    await this.cmd.publish(`${this.prefix}to:${node}`, `k${targetId} ${reason}`)
  }

  async locate (id: string): Promise<{ pool: string, node: string } | null> {
    this.assertReady()
    const loc = await this.cmd.hget(`${this.prefix}loc`, id)
    if (loc === null) return null
    const sep = loc.indexOf(':')
    return { node: loc.slice(0, sep), pool: loc.slice(sep + 1) }
  }

  async pool (name: string): Promise<PoolInfo | null> {
    this.assertReady()
    const [seq, raw] = await this.run(SCRIPTS.snapshot, name) as [number, unknown]
    return toInfo(parseSnapshot(seq, raw))
  }

  async pools (): Promise<PoolInfo[]> {
    this.assertReady()
    const [seq, ...raws] = await this.run(SCRIPTS.list) as [number, ...unknown[]]
    const infos: PoolInfo[] = []
    for (const raw of raws) {
      const info = toInfo(parseSnapshot(seq, raw))
      if (info !== null) infos.push(info)
    }
    return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  // ---------------------------------------------------------------------------------------------
  // Liveness

  private tick (): void {
    if (!this.ready()) return
    this.beat()
      .then(() => this.reap())
      .catch((err: unknown) => this.log.warn({ err }, 'rtc: liveness check failed'))
  }

  /** Refreshes this process's liveness key; notices when it was taken for dead or Redis lost its data. */
  private async beat (): Promise<void> {
    const [known, epoch] = await this.run(SCRIPTS.heartbeat, this.node, this.ttl, this.epochCandidate) as [number, string]
    const first = !this.beaten
    this.beaten = true
    const lostData = this.epoch !== null && epoch !== this.epoch
    this.epoch = epoch
    if (first) return
    if (lostData) this.recover('Redis lost its data')
    else if (known === 0) this.recover('this process was taken for dead')
  }

  private async reap (): Promise<void> {
    const out = await this.run(SCRIPTS.reap) as Array<string | number>
    for (let i = 0; i + 1 < out.length; i += 2) {
      this.log.info({ node: out[i], members: out[i + 1] }, 'rtc: removed the members of a process whose liveness key expired')
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Recovery: after an outage, or when this process was taken for dead

  private recover (reason: string): void {
    if (this.closed || this.closing) return
    if (this.recovering !== null) {
      this.recoverAgain = true
      return
    }
    this.recovering = this.resync(reason)
      .catch((err: unknown) => {
        this.log.warn({ err }, 'rtc: resync with Redis failed; retrying')
        this.recoverAgain = this.ready()
      })
      .finally(() => {
        this.recovering = null
        if (this.recoverAgain && !this.closed) {
          this.recoverAgain = false
          this.recover('retry')
        }
      })
  }

  /**
   * Re-announces this process's members and brings every view back in line with Redis, while the
   * stream is held (events queue). Defined outcome for peers: a member that Redis had lost (it took
   * this process for dead, or lost its data) is re-added: peers elsewhere see it close and then join
   * again, and its own peers here see every remote member close and join again, so both sides agree.
   */
  private async resync (reason: string): Promise<void> {
    this.blocked++
    try {
      await this.sub.subscribe(this.nodeChannel, ...Array.from(this.channels.keys(), (p) => this.evPrefix + p))
      const previousEpoch = this.epoch
      const [, epoch] = await this.run(SCRIPTS.heartbeat, this.node, this.ttl, this.epochCandidate) as [number, string]
      this.epoch = epoch
      const lostData = previousEpoch !== null && epoch !== previousEpoch
      const local = new Set<string>()
      let readded = 0
      let seq = 0
      for (const view of Array.from(this.host.views())) {
        if (lostData && view.persistent) await this.run(SCRIPTS.create, view.name, view.maxMembers)
        let lost = false
        let gone = false
        for (const m of Array.from(view.members.values())) {
          if (m.endpoint === undefined || this.leaving.has(m.id)) continue // a leave in flight runs after this, in order
          local.add(m.id)
          const [status] = await this.run(SCRIPTS.join, view.name, m.id, this.node, descriptionJson(m.description), view.persistent ? '0' : '1', view.maxMembers) as [string]
          if (status === 'ok') {
            lost = true
            readded++
          } else if (status === 'no-such-pool') {
            gone = true // closed by server code while this process was away
            break
          } else if (status !== 'present') {
            this.host.kickLocal(m.id, status === 'pool-full' ? 'pool full after the cluster reconnected' : 'lost by the cluster')
          }
        }
        if (gone) {
          this.host.applyClose(view.name)
          continue
        }
        const [snapSeq, raw] = await this.run(SCRIPTS.snapshot, view.name) as [number, unknown]
        seq = Math.max(seq, snapSeq)
        this.reconcile(view, parseSnapshot(snapSeq, raw), lost)
      }
      // Entries of this process that no live connection backs (a reply lost mid-join): remove them.
      for (const id of await this.cmd.smembers(`${this.prefix}node:${this.node}`)) {
        if (!local.has(id) && !this.joins.has(id)) await this.run(SCRIPTS.leave, '', id)
      }
      for (const pool of Array.from(this.channels.keys())) this.unsubscribeIfIdle(pool)
      if (seq > this.processed || lostData) this.advance(seq, true)
      const wasDown = this.down
      this.down = false
      this.live = this.ready()
      this.log.info({ reason, readded, dropped: this.dropped }, wasDown ? 'rtc: Redis is back: members re-announced, views resynced' : 'rtc: members re-announced, views resynced')
      this.dropped = 0
    } finally {
      this.blocked--
      this.drain()
    }
  }

  private reconcile (view: Pool, snapshot: Snapshot | null, lost: boolean): void {
    const name = view.name
    const current = new Map(snapshot?.members.map((m) => [m.id, m]))
    for (const m of Array.from(view.members.values())) {
      if (this.host.view(name) !== view) return
      if ((lost && m.endpoint === undefined) || !current.has(m.id)) this.host.applyLeave(name, m.id)
    }
    if (this.host.view(name) !== view || snapshot === null) return
    for (const m of snapshot.members) {
      const had = view.members.get(m.id)
      if (had === undefined) {
        if (m.node === this.node && !this.joins.has(m.id)) continue
        this.host.applyJoin(name, m)
      } else if (descriptionJson(had.description) !== m.raw) {
        this.host.applyDescribe(name, m.id, m.description)
      }
    }
    view.seq = snapshot.seq
  }
}

function descriptionJson (description: Description): string {
  return JSON.stringify(description ?? null)
}

function parseSnapshot (seq: number, raw: unknown): Snapshot | null {
  if (!Array.isArray(raw)) return null
  const [name, max, persistent] = raw as string[]
  const members: Snapshot['members'] = []
  for (let i = 3; i + 2 < raw.length; i += 3) {
    const rawDescription = String(raw[i + 2])
    members.push({ id: String(raw[i]), node: String(raw[i + 1]), description: JSON.parse(rawDescription) as Description, raw: rawDescription })
  }
  return { seq, settings: { name: String(name), maxMembers: Number(max), persistent: persistent === '1' }, members }
}

function toInfo (snapshot: Snapshot | null): PoolInfo | null {
  if (snapshot === null) return null
  return { ...snapshot.settings, members: snapshot.members.map(({ id, description, node }) => ({ id, description, node })) }
}

function positiveInteger (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new errors.FST_RTC_INVALID_OPTION(name, `expected an integer >= 1, got ${JSON.stringify(value)}`)
  }
  return value
}

/**
 * The Redis adapter: every process registered with `adapter: redisAdapter({ url })` on the same
 * Redis server (and prefix) serves the same pools. ioredis is loaded only here, when `url` is used.
 */
export function redisAdapter (opts: RedisAdapterOptions = {}): Adapter {
  if (typeof opts !== 'object' || opts === null) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter', 'expected an options object')
  if (opts.url !== undefined && typeof opts.url !== 'string') throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.url', 'expected a redis:// URL string')
  if (opts.client !== undefined && (typeof opts.client !== 'object' || opts.client === null || typeof opts.client.duplicate !== 'function')) {
    throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.client', 'expected an ioredis client')
  }
  if (opts.url !== undefined && opts.client !== undefined) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter', 'give url or client, not both')
  const prefix = opts.prefix ?? DEFAULT_REDIS_PREFIX
  if (typeof prefix !== 'string' || prefix.length === 0) throw new errors.FST_RTC_INVALID_OPTION('redisAdapter.prefix', 'expected a non-empty string')
  return new RedisAdapter({
    url: opts.url ?? DEFAULT_REDIS_URL,
    client: opts.client,
    prefix,
    ttl: positiveInteger('redisAdapter.ttl', opts.ttl, DEFAULT_REDIS_TTL),
    connectTimeout: positiveInteger('redisAdapter.connectTimeout', opts.connectTimeout, DEFAULT_REDIS_CONNECT_TIMEOUT)
  })
}

/** A Redis URL for a message or a log: never its password. */
function redactUrl (url: string | undefined): string {
  if (url === undefined) return 'the given client'
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'an unparsable URL'
  }
}
