import type { FastifyBaseLogger } from 'fastify'
import type { AdapterHost, JoinOutcome, MemberInfo } from '../adapter'
import type { EventStream } from './stream'
import type { ClaimReply, JoinReply, Snapshot, Transport } from './transport'

interface PendingJoin {
  pool: string
  member: MemberInfo
  /** A claim (a resume here of a member of another process): applied as a move, not a join. */
  moved: boolean
  created: boolean
  /** The pool as the join script saw it (from its reply). */
  snapshot: Snapshot | null
  /** Our own join event came back through the stream. */
  eventSeen: boolean
  /** The event came back before the reply: the stream is held until the reply is in. */
  blocking: boolean
  timer: NodeJS.Timeout | null
  resolve: (outcome: JoinOutcome) => void
}

export interface JoinsContext {
  host: AdapterHost
  log: FastifyBaseLogger
  transport: Transport
  stream: EventStream
  /** Changes come back through the stream now. */
  streaming: () => boolean
  /** Removes a member (the adapter's leave). */
  leave: (pool: string, id: string) => Promise<void>
  /** The outcome for a join the cluster cannot admit now. */
  unavailable: JoinOutcome
  waitMs: number
}

const noop = (): void => {}

/**
 * Joins started by this process, until they are applied here. A join needs two things: the
 * script's reply (the pool's snapshot, which brings this view up to date) and its own event (its
 * place in the stream). Whichever comes second applies the join, so the joiner's rtc:joined lists
 * exactly the members before it and its peers here hear of it in stream order.
 */
export class PendingJoins {
  private readonly joins = new Map<string, PendingJoin>()

  constructor (private readonly ctx: JoinsContext) {}

  has (id: string): boolean {
    return this.joins.has(id)
  }

  /** Runs the join; resolves once it is applied here, or refused. */
  run (pool: string, member: MemberInfo, create: boolean, maxMembers: number): Promise<JoinOutcome> {
    return new Promise<JoinOutcome>((resolve) => {
      const pj: PendingJoin = { pool, member, moved: false, created: false, snapshot: null, eventSeen: false, blocking: false, timer: null, resolve }
      this.joins.set(member.id, pj)
      this.ctx.transport.join(pool, member, create, maxMembers)
        .then((reply) => this.onReply(pj, reply), (err: unknown) => this.onFailed(pj, err))
    })
  }

  /**
   * Runs a claim (lib/adapters/adapter.ts): the member whose token has this hash moves here. Like
   * a join, it is applied (as a move) once both the script's reply and its event are in; resolves
   * ok once applied, or not (no-such-pool) when the token names nobody.
   */
  claim (pool: string, id: string, tokenHash: string, received: number, replied: (reply: ClaimReply) => void): Promise<JoinOutcome> {
    const { host, transport } = this.ctx
    return new Promise<JoinOutcome>((resolve) => {
      const pj: PendingJoin = { pool, member: { id, node: host.node, description: null }, moved: true, created: false, snapshot: null, eventSeen: false, blocking: false, timer: null, resolve }
      this.joins.set(id, pj)
      transport.claim(pool, id, tokenHash, host.node, received).then((reply) => {
        replied(reply)
        if (reply.status === 'ok') pj.member = reply.member
        this.onReply(pj, reply.status === 'ok' ? { status: 'ok', created: false, snapshot: reply.snapshot } : { status: 'no-such-pool' })
      }, (err: unknown) => this.onFailed(pj, err))
    })
  }

  /** A join event of `pool` from the stream (a moved one too): true when it is one of ours (then handled here). */
  onEvent (pool: string, member: MemberInfo, seq: number): boolean {
    const pj = this.joins.get(member.id)
    if (pj === undefined || member.node !== this.ctx.host.node || pj.pool !== pool) return false
    pj.eventSeen = true
    if (pj.snapshot !== null) {
      this.finish(pj, true, seq)
    } else {
      // Our own join, ahead of the script's reply: the stream waits for the snapshot.
      pj.blocking = true
      this.ctx.stream.hold()
    }
    return true
  }

  /** Nothing more comes back through the stream: the joins whose reply is in are applied now. */
  settle (): void {
    for (const pj of Array.from(this.joins.values())) if (pj.snapshot !== null) this.finish(pj, false)
  }

  /** Closing: every pending join is refused. */
  abort (): void {
    for (const pj of this.joins.values()) {
      if (pj.timer !== null) clearTimeout(pj.timer)
      pj.resolve(this.ctx.unavailable)
    }
    this.joins.clear()
  }

  private onReply (pj: PendingJoin, reply: JoinReply): void {
    if (reply.status !== 'ok' && reply.status !== 'present') {
      this.joins.delete(pj.member.id)
      pj.resolve(reply.status === 'elsewhere' ? this.ctx.unavailable : { ok: false, reason: reply.status })
      return
    }
    pj.created = reply.created
    pj.snapshot = reply.snapshot
    if (pj.snapshot === null) {
      this.joins.delete(pj.member.id)
      pj.resolve({ ok: false, reason: 'no-such-pool' })
      return
    }
    const streaming = this.ctx.streaming()
    if (pj.eventSeen || reply.status === 'present' || !streaming) {
      this.finish(pj, pj.eventSeen && streaming, pj.snapshot.seq)
      return
    }
    // The event is on its way through the stream; should it never come, apply the snapshot anyway.
    pj.timer = setTimeout(() => {
      this.ctx.log.warn({ pool: pj.pool, peer: pj.member.id }, 'rtc: a join event did not come back through the subscriber in time')
      this.finish(pj, false)
    }, this.ctx.waitMs)
    pj.timer.unref()
  }

  private onFailed (pj: PendingJoin, err: unknown): void {
    this.joins.delete(pj.member.id)
    this.ctx.log.warn({ err, pool: pj.pool, peer: pj.member.id }, `rtc: join failed in ${this.ctx.transport.name}`)
    if (pj.eventSeen) {
      // The script ran but its reply was lost: take the member out again.
      this.ctx.transport.leave(pj.pool, pj.member.id).catch(noop)
    }
    pj.resolve(this.ctx.unavailable)
    this.unblock(pj)
  }

  /**
   * Brings this process's view up to the join's snapshot and applies the join (which sends the
   * joiner its rtc:joined). `inStream`: called at the join's own event, so the view is exactly the
   * state before it and the event's seq can be recorded.
   */
  private finish (pj: PendingJoin, inStream: boolean, seq?: number): void {
    const { host } = this.ctx
    if (!this.joins.has(pj.member.id)) return
    this.joins.delete(pj.member.id)
    if (pj.timer !== null) clearTimeout(pj.timer)
    const snapshot = pj.snapshot as Snapshot
    try {
      const view = host.applyPool(snapshot.settings)
      for (const m of snapshot.members) {
        if (m.id === pj.member.id || view.members.has(m.id)) continue
        if (m.node === host.node && !this.joins.has(m.id)) continue // a stale entry of this process: not a peer
        host.applyJoin(pj.pool, m)
      }
      if (pj.moved) host.applyMove(pj.pool, pj.member, inStream ? seq : undefined)
      else host.applyJoin(pj.pool, pj.member, inStream ? seq : undefined)
      if (view.members.get(pj.member.id)?.endpoint === undefined && host.view(pj.pool) === view) {
        // The socket closed while the cluster admitted it: the manager can no longer undo this, so do it here.
        this.ctx.leave(pj.pool, pj.member.id).catch(noop)
      }
    } catch (err) {
      this.ctx.log.error({ err, pool: pj.pool }, 'rtc: applying a join failed')
    }
    pj.resolve({ ok: true, created: pj.created })
    this.unblock(pj)
  }

  private unblock (pj: PendingJoin): void {
    if (!pj.blocking) return
    pj.blocking = false
    this.ctx.stream.release()
  }
}
