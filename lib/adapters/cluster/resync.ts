import type { FastifyBaseLogger } from 'fastify'
import type { AdapterHost } from '../adapter'
import type { Channels } from './channels'
import type { PendingJoins } from './joins'
import type { Liveness } from './liveness'
import type { Lifecycle } from './state'
import type { EventStream } from './stream'
import type { Description, Snapshot, Transport, View } from './transport'

export interface ResyncContext {
  host: AdapterHost
  log: FastifyBaseLogger
  transport: Transport
  lifecycle: Lifecycle
  stream: EventStream
  channels: Channels
  joins: PendingJoins
  liveness: Liveness
  /** A leave of this member is in flight (it runs after the resync, in order). */
  leaving: (id: string) => boolean
  /** Frames dropped for other processes since the last report (reset by reading). */
  takeDropped: () => number
}

/**
 * Recovery after an outage, or when this process was taken for dead: re-announces this process's
 * members and brings every view back in line with the backend, while the stream is held (events
 * queue). One runs at a time; one requested meanwhile runs right after.
 */
export class Resync {
  private running: Promise<void> | null = null
  private again = false

  constructor (private readonly ctx: ResyncContext) {}

  request (reason: string): void {
    const { lifecycle, transport } = this.ctx
    if (lifecycle.ending || lifecycle.state === 'connecting') return
    if (this.running !== null) {
      this.again = true
      return
    }
    if (lifecycle.state === 'down') {
      if (!transport.ready) return // the transport's `ready` requests it again
      lifecycle.to('recovering', reason)
    } else if (lifecycle.state === 'live') {
      lifecycle.to('resyncing', reason)
    }
    this.running = this.run(reason)
      .catch((err: unknown) => {
        this.ctx.log.warn({ err }, `rtc: resync with ${transport.name} failed; retrying`)
        this.again = transport.ready
      })
      .finally(() => {
        this.running = null
        if (this.again && !lifecycle.ending) {
          this.again = false
          this.request('retry')
        }
      })
  }

  /**
   * Defined outcome for peers: a member that the backend had lost (it took this process for dead,
   * or lost its data) is re-added: peers elsewhere see it close and then join again, and its own
   * peers here see every remote member close and join again, so both sides agree.
   */
  private async run (reason: string): Promise<void> {
    const { host, transport, stream, channels, joins, lifecycle } = this.ctx
    stream.hold()
    try {
      await transport.resubscribe(channels.names())
      const lostData = await this.ctx.liveness.checkData()
      const local = new Set<string>()
      let readded = 0
      let seq = 0
      for (const view of Array.from(host.views())) {
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
        this.reconcile(view, current.snapshot, lost)
        if (channels.has(view.name)) stream.advance(current.seq, lostData, view.name)
      }
      // Entries of this process that no live connection backs (a reply lost mid-join): remove them.
      for (const id of await transport.nodeMembers(host.node)) {
        if (!local.has(id) && !joins.has(id)) await transport.leave(null, id)
      }
      for (const pool of channels.names()) channels.unsubscribeIfIdle(pool)
      if (seq > stream.processed || lostData) stream.advance(seq, true)
      if (lostData) this.ctx.liveness.repaired()
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
