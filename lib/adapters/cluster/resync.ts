import type { FastifyBaseLogger } from 'fastify'
import type { AdapterHost } from '../adapter'
import type { Channels } from './channels'
import type { PendingJoins } from './joins'
import type { Liveness } from './liveness'
import type { Lifecycle, PoolsInDoubt } from './state'
import type { EventStream } from './stream'
import type { Description, Snapshot, Transport, View } from './transport'

export interface ResyncContext {
  host: AdapterHost
  log: FastifyBaseLogger
  transport: Transport
  lifecycle: Lifecycle
  /** Pools whose shard alone is in doubt: a full resync leaves the lost ones to their own. */
  doubt: PoolsInDoubt
  stream: EventStream
  channels: Channels
  joins: PendingJoins
  liveness: Liveness
  /** A leave of this member is in flight (it runs after the resync, in order). */
  leaving: (id: string) => boolean
  /** Frames dropped for other processes since the last report (reset by reading). */
  takeDropped: () => number
  /** Pools left doubt after their own resync: the frames held for them can go (Relay.release). */
  released: (pools: string[]) => void
}

/**
 * Recovery after an outage, or when this process was taken for dead: re-announces this process's
 * members and brings every view back in line with the backend, while the stream is held (events
 * queue). Or, for pools whose shard alone was in doubt (`request` with `pools`), the same for
 * those pools only, while the process stays live. One runs at a time; one requested meanwhile
 * runs right after.
 */
export class Resync {
  private running: Promise<void> | null = null
  /** A full resync is due. */
  private full = false
  /** Pools due for their own resync. */
  private readonly pools = new Set<string>()

  constructor (private readonly ctx: ResyncContext) {}

  /** A full resync, or (`pools`) one of those pools only. */
  request (reason: string, pools?: string[]): void {
    const { lifecycle } = this.ctx
    if (lifecycle.ending || lifecycle.state === 'connecting') return
    if (pools === undefined) this.full = true
    else for (const p of pools) this.pools.add(p)
    if (this.running === null) this.next(reason)
  }

  private next (reason: string): void {
    const { lifecycle, transport, doubt } = this.ctx
    if (lifecycle.state === 'down') {
      if (!transport.ready) return // the transport's `ready` requests it again
      lifecycle.to('recovering', reason)
      this.full = true
    } else if (this.full && lifecycle.state === 'live') {
      lifecycle.to('resyncing', reason)
    }
    const pools = this.full ? null : doubt.back(this.pools)
    this.pools.clear()
    if (pools?.length === 0) return
    this.full = false
    this.running = this.run(reason, pools)
      .catch((err: unknown) => {
        this.ctx.log.warn({ err, pools: pools?.length }, `rtc: resync with ${transport.name} failed; retrying`)
        if (pools === null) this.full ||= transport.ready
        else for (const p of pools) this.pools.add(p)
      })
      .finally(() => {
        this.running = null
        if ((this.full || this.pools.size > 0) && !lifecycle.ending) this.next('retry')
      })
  }

  /**
   * Defined outcome for peers: a member that the backend had lost (it took this process for dead,
   * or lost its data) is re-added: peers elsewhere see it close and then join again, and its own
   * peers here see every remote member close and join again, so both sides agree.
   */
  private async run (reason: string, only: string[] | null): Promise<void> {
    const { host, transport, stream, channels, joins, lifecycle, doubt } = this.ctx
    stream.hold()
    try {
      if (only === null) await transport.resubscribe(channels.names())
      const lostData = await this.ctx.liveness.checkData()
      const local = new Set<string>()
      const done: string[] = []
      let readded = 0
      let seq = 0
      for (const view of Array.from(host.views())) {
        if (only === null ? doubt.lost(view.name) : !only.includes(view.name)) {
          // Not this run's: its shard is still down (it gets its own run when back), or it is fine.
          for (const m of view.members.values()) if (m.endpoint !== undefined) local.add(m.id)
          continue
        }
        done.push(view.name)
        if (lostData && view.persistent) await transport.create({ name: view.name, maxMembers: view.maxMembers, persistent: true })
        let lost = false
        let gone = false
        for (const m of Array.from(view.members.values())) {
          if (m.endpoint === undefined || this.ctx.leaving(m.id)) continue // a leave in flight runs after this, in order
          local.add(m.id)
          const { status } = await transport.join(view.name, m, !view.persistent, view.maxMembers)
          if (status === 'ok') {
            lost = true
            readded++
          } else if (status === 'no-such-pool') {
            gone = true // closed by server code while this process was away
            break
          } else if (status !== 'present') {
            host.kickLocal(m.id, status === 'pool-full' ? 'pool full after the cluster reconnected' : 'lost by the cluster')
          }
        }
        if (gone) {
          host.applyClose(view.name)
          continue
        }
        const current = await transport.snapshot(view.name)
        seq = Math.max(seq, current.seq)
        if (only !== null) {
          // As below for the whole process, in this pool: entries of this process no live
          // connection backs (a leave that failed while its shard was down).
          for (const m of current.snapshot?.members ?? []) {
            if (m.node === host.node && !local.has(m.id) && !joins.has(m.id)) await transport.leave(view.name, m.id)
          }
        }
        this.reconcile(view, current.snapshot, lost)
        if (channels.has(view.name)) stream.advance(current.seq, lostData, view.name)
      }
      if (only !== null) {
        for (const pool of only) channels.unsubscribeIfIdle(pool)
        doubt.resynced(only)
        this.ctx.released(only)
        this.ctx.log.info({ reason, pools: only.length, readded, dropped: this.ctx.takeDropped() }, `rtc: ${transport.name} shard back: its pools' members re-announced, views resynced`)
        return
      }
      // Entries of this process that no live connection backs (a reply lost mid-join): remove them.
      for (const id of await transport.nodeMembers(host.node)) {
        if (!local.has(id) && !joins.has(id)) await transport.leave(null, id)
      }
      for (const pool of channels.names()) channels.unsubscribeIfIdle(pool)
      if (seq > stream.processed || lostData) stream.advance(seq, true)
      if (lostData) this.ctx.liveness.repaired()
      doubt.resynced(done)
      const wasDown = lifecycle.state === 'recovering'
      if (lifecycle.rebuilding) lifecycle.to('live', reason)
      this.ctx.log.info({ reason, readded, dropped: this.ctx.takeDropped() }, wasDown
        ? `rtc: ${transport.name} is back: members re-announced, views resynced`
        : 'rtc: members re-announced, views resynced')
    } finally {
      stream.release()
    }
  }

  private reconcile (view: View, snapshot: Snapshot | null, lost: boolean): void {
    const { host } = this.ctx
    const name = view.name
    const current = new Map(snapshot?.members.map((m) => [m.id, m]))
    for (const m of Array.from(view.members.values())) {
      if (host.view(name) !== view) return
      if ((lost && m.endpoint === undefined) || !current.has(m.id)) host.applyLeave(name, m.id)
    }
    if (host.view(name) !== view || snapshot === null) return
    for (const m of snapshot.members) {
      const had = view.members.get(m.id)
      if (had === undefined) {
        if (m.node === host.node && !this.ctx.joins.has(m.id)) continue
        host.applyJoin(name, m)
      } else if (!sameDescription(had.description, m.description)) {
        host.applyDescribe(name, m.id, m.description)
      }
    }
    view.seq = snapshot.seq
  }
}

function sameDescription (a: Description, b: Description): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}
