import { EventEmitter } from 'node:events'
import type { FastifyBaseLogger } from 'fastify'
import { publishAdapterError } from '../../core/diagnostics'
import { errors } from '../../errors'
import type { Adapter, AdapterHost, ClaimResult, JoinOutcome, JoinPolicy, MemberInfo } from '../adapter'
import { applyInbound, type ApplyContext } from './apply'
import { Channels } from './channels'
import { Handovers } from './handovers'
import { PendingJoins } from './joins'
import { Liveness } from './liveness'
import { Relay, RESEND_MS } from './relay'
import { Resync } from './resync'
import { Lifecycle, PoolsInDoubt, type ClusterState } from './state'
import { EventStream } from './stream'
import type { Description, Inbound, PoolInfo, PoolSettings, Snapshot, Transport } from './transport'

/** How long an operation waits for its own event to come back through the stream before applying it directly. */
const STREAM_WAIT_MS = 5000

export interface ClusterOptions {
  /** Milliseconds a process's liveness lasts without a heartbeat. */
  ttl: number
}

/**
 * Makes every process that shares one backend (a Transport) one signalling cluster.
 *
 * - Membership lives in the backend and changes only through atomic operations (the member limit
 *   holds cluster-wide), each of which numbers its event (from one counter, or one per pool) and
 *   publishes it on the pool's channel in the same step.
 * - Every change is applied to this process's views from the ordered stream (EventStream): an
 *   operation started here resolves once its own event has come back (or, when the stream is down,
 *   is applied directly). Joins: PendingJoins. Frames for local members come through the same
 *   stream, so a process sees a join before any frame that follows from it (docs/protocol.md, rules 4 and 9).
 * - Frames for members on other processes (Relay): published while live, held while this
 *   process's membership is rebuilt, dropped while there is no connection.
 * - Liveness (Liveness): a mark per process with a TTL; survivors remove the members of the dead.
 * - Backend lost (state `down`): local members keep being served, joins are refused with
 *   `join-denied`; when it is back (or when it lost its data, or took this process for dead) this
 *   process re-announces its members and resyncs its views (Resync).
 * - One shard of it lost (Redis Cluster: a master down, a slot moved): the same, for the pools of
 *   that shard only (PoolsInDoubt); the process stays `live` and serves every other pool.
 * - The states and their transitions: state.ts.
 *
 * Emits, for tests and monitoring: 'state' (state, previous, reason) on every transition,
 * 'shard' ('lost' | 'resynced', pools) when pools' shard is in doubt and when they are resynced,
 * and 'reap' (removed) after each liveness round.
 */
export class ClusterAdapter extends EventEmitter implements Adapter {
  private host!: AdapterHost
  private log!: FastifyBaseLogger
  private node = ''
  private readonly lifecycle = new Lifecycle((state, previous, reason) => this.changed(state, previous, reason))
  private readonly doubt = new PoolsInDoubt()
  private readonly relay: Relay
  private stream!: EventStream
  private channels!: Channels
  private joins!: PendingJoins
  private liveness!: Liveness
  private resync!: Resync
  private readonly handovers = new Handovers()
  /** Members whose leave is in flight here: their leave event is not a removal by another process. */
  private readonly leaving = new Set<string>()
  private readonly unavailable: JoinOutcome

  constructor (private readonly transport: Transport, private readonly options: ClusterOptions) {
    super()
    this.relay = new Relay(transport, this.lifecycle, (pool) => this.doubt.has(pool))
    this.unavailable = Object.freeze({
      ok: false,
      reason: 'join-denied',
      message: `The signalling cluster cannot admit new members right now (${transport.name} is unreachable): try again shortly`
    })
  }

  get state (): ClusterState {
    return this.lifecycle.state
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  async attach (host: AdapterHost): Promise<void> {
    const { transport } = this
    this.host = host
    this.node = host.node
    this.log = host.log.child({ adapter: transport.name.toLowerCase() })
    // `applying` (below) is complete before anything can arrive: connect() comes last.
    this.stream = new EventStream((item) => {
      try {
        applyInbound(applying, item)
      } catch (err) {
        publishAdapterError(this.node, 'apply', err) // the stream logs it and goes on
        throw err
      }
    }, this.log, STREAM_WAIT_MS)
    this.channels = new Channels(transport, host, (pool) => {
      this.stream.forget(pool)
      this.doubt.forget(pool)
    })
    this.joins = new PendingJoins({
      host,
      log: this.log,
      transport,
      stream: this.stream,
      streaming: () => this.lifecycle.streaming,
      leave: (pool, id) => this.leave(pool, id),
      unavailable: this.unavailable,
      waitMs: STREAM_WAIT_MS
    })
    this.liveness = new Liveness({
      transport,
      log: this.log,
      node: this.node,
      ttl: this.options.ttl,
      writable: () => this.lifecycle.state !== 'closed' && transport.writable,
      // Reaping waits for every shard: a round that reaches a lost one fails anyway.
      ready: () => this.usable && this.doubt.size === 0,
      processed: () => this.stream.processed,
      lostData: () => this.stream.rebase(),
      resync: (reason) => this.resync.request(reason),
      reaped: (removed) => this.emit('reap', removed)
    })
    this.resync = new Resync({
      host,
      log: this.log,
      transport,
      lifecycle: this.lifecycle,
      doubt: this.doubt,
      stream: this.stream,
      channels: this.channels,
      joins: this.joins,
      liveness: this.liveness,
      leaving: (id) => this.leaving.has(id),
      takeDropped: () => this.relay.takeDropped(),
      released: (pools) => {
        this.relay.release(new Set(pools))
        this.emit('shard', 'resynced', pools)
      }
    })
    const applying: ApplyContext = {
      host,
      log: this.log,
      lifecycle: this.lifecycle,
      channels: this.channels,
      joins: this.joins,
      leaving: (id) => this.leaving.has(id),
      resync: (reason) => this.resync.request(reason),
      handovers: this.handovers,
      send: (node, message) => this.relay.send(node, message)
    }
    try {
      await transport.connect(this.node, this.log, {
        message: (item) => this.onMessage(item),
        ready: () => this.onReady(),
        down: () => this.onDown(),
        lost: (pools) => this.onPoolsLost(pools),
        restored: (pools) => this.onPoolsRestored(pools)
      })
      await this.liveness.beat()
    } catch (err) {
      await this.close()
      throw err
    }
    if (this.lifecycle.state !== 'connecting') return // closed meanwhile
    this.lifecycle.to('live', 'connected')
    this.liveness.start()
    if (!transport.ready) this.onDown() // lost again before it went live
  }

  private changed (state: ClusterState, previous: ClusterState, reason: string): void {
    if (state === 'live') this.relay.flush()
    else if (state === 'down') this.relay.down()
    else if (state === 'closed') this.relay.discard()
    this.emit('state', state, previous, reason)
  }

  /** Commands and the stream work. */
  private get usable (): boolean {
    return this.lifecycle.state !== 'closed' && this.transport.ready
  }

  /** Commands and the stream work (for `pool`: its shard too). */
  private usableFor (pool: string): boolean {
    return this.usable && !this.doubt.has(pool)
  }

  private assertUsable (pool?: string): void {
    if (!this.usable) throw this.transport.unavailable(this.lifecycle.state === 'closed' ? 'adapter closed' : 'reconnecting')
    if (pool !== undefined && this.doubt.has(pool)) throw this.transport.unavailable(`the shard of pool ${pool} is reconnecting`)
  }

  private onPoolsLost (pools: string[]): void {
    if (this.lifecycle.ending) return
    const fresh = this.doubt.lose(pools)
    if (fresh.length === 0) return
    this.log.warn({ pools: fresh.length, dropped: this.relay.droppedSoFar }, `rtc: lost the ${this.transport.name} shard of ${fresh.length} pool(s): refusing joins to them and holding their relay to other processes until it is back; other pools are served as usual`)
    publishAdapterError(this.node, 'connection', new Error(`lost a ${this.transport.name} shard`))
    this.emit('shard', 'lost', fresh)
  }

  private onPoolsRestored (pools: string[]): void {
    const back = this.doubt.restore(pools)
    if (back.length > 0) this.resync.request(`${this.transport.name} shard back`, back)
  }

  private onDown (): void {
    const { state } = this.lifecycle
    if (state === 'recovering') {
      this.lifecycle.to('down', 'connection lost again') // the outage is logged already
    } else if (state === 'live' || state === 'resyncing') {
      this.lifecycle.to('down', 'connection lost')
      this.log.error({ dropped: this.relay.droppedSoFar }, `rtc: lost ${this.transport.name}: serving local members only, refusing joins and dropping relay to other processes until it is back`)
      publishAdapterError(this.node, 'connection', new Error(`lost ${this.transport.name}`))
      // Nothing more will come back through the stream: finish what waits for it.
      this.stream.abandon()
      this.joins.settle()
    }
  }

  private onReady (): void {
    const { state } = this.lifecycle
    if (state === 'down' || state === 'recovering') this.resync.request(`${this.transport.name} reconnected`)
  }

  async close (): Promise<void> {
    if (this.lifecycle.ending) return
    this.lifecycle.to('closing', 'close()')
    this.liveness?.stop()
    this.relay.drain()
    // Leave the cluster at once (members still here are announced closed) rather than after the TTL.
    if (this.liveness?.announced === true && this.transport.writable) {
      await this.transport.reap(this.node).catch((err: unknown) => this.log.warn({ err }, 'rtc: could not leave the cluster cleanly'))
    }
    this.lifecycle.to('closed', 'close()')
    this.stream?.abandon()
    this.joins?.abort()
    this.handovers.clear()
    this.stream?.clear()
    await this.transport.disconnect()
  }

  // ---------------------------------------------------------------------------------------------
  // The ordered stream

  private onMessage (item: Inbound): void {
    if (this.lifecycle.state === 'closed') return
    if (item.type === 'pool' && !this.channels.has(item.pool)) return
    this.stream.push(item)
  }

  /** Resolves true once the stream has applied event `seq` of a subscribed pool; false if it cannot (stream down, timeout). */
  private applied (pool: string, seq: number): Promise<boolean> {
    if (!this.lifecycle.streaming || !this.channels.has(pool)) return Promise.resolve(false)
    return this.stream.applied(seq, pool)
  }

  // ---------------------------------------------------------------------------------------------
  // Adapter: membership

  async join (pool: string, member: MemberInfo, policy: JoinPolicy): Promise<JoinOutcome> {
    if (!this.usableFor(pool)) return this.unavailable
    const ch = this.channels.retain(pool)
    try {
      await ch.ready
    } catch {
      this.channels.release(pool, ch)
      return this.unavailable
    }
    try {
      return await this.joins.run(pool, member, policy.create, policy.maxMembers)
    } finally {
      this.channels.release(pool, ch)
    }
  }

  async leave (pool: string, id: string): Promise<void> {
    const ch = this.channels.borrow(pool)
    this.leaving.add(id)
    this.relay.drain() // its frames reach their targets before its leave event
    try {
      if (this.transport.writable) {
        try {
          const seq = await this.transport.leave(pool, id)
          if (seq > 0) await this.applied(pool, seq)
          // It moved to another process (a resume there) just before: its moved event, on its way, says so here.
          if (seq < 0) return
        } catch (err) {
          this.log.warn({ err, pool, peer: id }, `rtc: could not remove a member in ${this.transport.name} (it is removed when ${this.transport.name} is back)`)
          publishAdapterError(this.node, 'leave', err)
        }
      }
      // Applied here whether or not its event came back (a no-op when the stream applied it), and
      // only then forgotten: its own leave event must never look like a removal by another process.
      this.host.applyLeave(pool, id)
    } finally {
      this.leaving.delete(id)
      this.channels.release(pool, ch)
    }
  }

  async describe (pool: string, id: string, description: Description): Promise<void> {
    this.assertUsable(pool)
    const ch = this.channels.borrow(pool)
    this.relay.drain()
    try {
      const seq = await this.transport.describe(pool, id, description)
      if (seq === 0) return
      if (!(await this.applied(pool, seq))) this.host.applyDescribe(pool, id, description)
    } finally {
      this.channels.release(pool, ch)
    }
  }

  async createPool (settings: PoolSettings): Promise<boolean> {
    this.assertUsable(settings.name)
    const ch = this.channels.retain(settings.name)
    try {
      await ch.ready
      const seq = await this.transport.create(settings)
      if (seq === 0) return false
      const view = this.host.applyPool(settings)
      if (view.seq < seq) view.seq = seq
      return true
    } finally {
      this.channels.release(settings.name, ch)
    }
  }

  async closePool (name: string): Promise<boolean> {
    this.assertUsable(name)
    const ch = this.channels.borrow(name)
    this.relay.drain()
    try {
      const seq = await this.transport.close(name)
      if (seq === 0) return false
      if (!(await this.applied(name, seq))) this.host.applyClose(name)
      return true
    } finally {
      this.channels.release(name, ch)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Adapter: resume on another process

  resumeToken (pool: string, id: string, tokenHash: string): void {
    if (!this.usableFor(pool)) return
    this.transport.token(pool, id, tokenHash).catch((err: unknown) => {
      this.log.warn({ err, pool, peer: id }, `rtc: could not record a resume token in ${this.transport.name} (that member can resume only on this process)`)
    })
  }

  markSuspended (pool: string, id: string, suspended: boolean): void {
    if (!this.usableFor(pool)) return
    this.transport.markSuspended(pool, id, this.node, suspended).catch((err: unknown) => {
      this.log.debug({ err, pool, peer: id }, `rtc: could not mark a member suspended in ${this.transport.name}`)
    })
  }

  async claim (pool: string, id: string, tokenHash: string, received: number): Promise<ClaimResult> {
    const unknown: ClaimResult = { ok: false, result: 'unknown-token' }
    if (!this.usableFor(pool)) return unknown
    const ch = this.channels.retain(pool)
    try {
      await ch.ready
      const handover = this.handovers.expect(id)
      // The fences to await: every process with members in the pool at the move (the claim's snapshot), but the old one.
      const outcome = await this.joins.claim(pool, id, tokenHash, received, (reply) => {
        if (reply.status === 'ok') this.handovers.awaitFences(id, reply.snapshot.members.map((m) => m.node).filter((n) => n !== reply.from))
      })
      if (!outcome.ok) {
        this.handovers.cancel(id)
        return unknown
      }
      const held = await handover
      return held === null ? { ok: false, result: 'frames-lost' } : { ok: true, ...held }
    } catch {
      this.handovers.cancel(id)
      return unknown
    } finally {
      this.channels.release(pool, ch)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Adapter: routing and queries

  forward (node: string, targetId: string, text: string, pool: string): void {
    if (node === this.node) {
      this.host.deliver(targetId, text)
      return
    }
    this.relay.send(node, { type: 'deliver', pool, target: targetId, text })
  }

  async kick (node: string, targetId: string, reason: string): Promise<void> {
    if (node === this.node) {
      this.host.kickLocal(targetId, reason)
      return
    }
    this.assertUsable()
    this.relay.drain() // frames sent before the kick arrive before it
    // A kick that reaches no process (its process died and is not reaped yet, or is not subscribed
    // again after a Redis failover) is published again for a while, then refused: never dropped silently.
    if (await this.relay.publishUntilReceived(node, [{ type: 'kick', target: targetId, reason }])) return
    if (this.lifecycle.ending) throw new errors.FST_RTC_CLOSED()
    const err = new errors.FST_RTC_NO_SUCH_PEER(targetId)
    err.message += `: its process (${node}) received no kick within ${RESEND_MS} ms (the process is gone, or not subscribed to Redis again yet after a failover)`
    throw err
  }

  async locate (id: string): Promise<{ pool: string, node: string } | null> {
    this.assertUsable()
    return await this.transport.locate(id)
  }

  async pool (name: string): Promise<PoolInfo | null> {
    this.assertUsable(name)
    const { snapshot } = await this.transport.snapshot(name)
    return snapshot === null ? null : await this.toInfo(snapshot)
  }

  async pools (): Promise<PoolInfo[]> {
    this.assertUsable()
    const infos = await Promise.all((await this.transport.list()).map((s) => this.toInfo(s)))
    return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** A pool as the backend holds it, with its suspended members marked (wherever they are). */
  private async toInfo (snapshot: Snapshot): Promise<PoolInfo> {
    const suspended = new Set(await this.transport.suspendedIn(snapshot.settings.name))
    return {
      ...snapshot.settings,
      members: snapshot.members.map(({ id, description, node }) => ({ id, description, node, state: suspended.has(id) ? 'suspended' : 'connected' }))
    }
  }
}
