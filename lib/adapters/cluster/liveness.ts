import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Transport } from './transport'

export interface LivenessContext {
  transport: Transport
  log: FastifyBaseLogger
  node: string
  /** Milliseconds a liveness mark lasts; it is refreshed every third of it. */
  ttl: number
  /** Commands can be sent: the mark can be refreshed (the subscriber may be in doubt). */
  writable: () => boolean
  /** The connections are up, so processes whose mark expired can be reaped. */
  ready: () => boolean
  /** The highest event seq this process has seen. */
  processed: () => number
  /** The backend lost its data: what was numbered before means nothing now. */
  lostData: () => void
  /** This process must re-announce its members (taken for dead, or the backend lost its data). */
  resync: (reason: string) => void
  /** A round of reaping finished (for tests and monitoring). */
  reaped: (removed: Array<{ node: string, members: number }>) => void
}

/**
 * Liveness: each process refreshes a mark with a TTL and, in the same round, removes the members of
 * processes whose mark expired (the backend does that atomically, so each member is removed and
 * announced once however many survivors reap at once). A heartbeat also tells this process when
 * it was itself taken for dead, or when the backend lost its data: its epoch is not the one last
 * seen (every heartbeat offers a fresh one, which the backend keeps only when it has none), or its
 * event counter is below an event already seen.
 */
export class Liveness {
  /** The backend's data set as last seen. */
  private epoch: string | null = null
  private timer: NodeJS.Timeout | null = null
  /** The first heartbeat went through: this process is known to the cluster. */
  announced = false
  /** A data loss was seen that no resync has repaired yet. */
  private lost = false

  constructor (private readonly ctx: LivenessContext) {}

  start (): void {
    const every = Math.max(50, Math.floor(this.ctx.ttl / 3))
    this.timer = setInterval(() => this.tick(), every)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /**
   * The mark is refreshed whenever commands can be sent, also while a subscription is in doubt (a
   * Redis Cluster failover of a shard this process follows lasts the node timeout and more, maybe
   * over `ttl`: its mark must not expire meanwhile, or it is taken for dead and its members are
   * announced closed and joined again). Reaping waits until this process is fully back.
   */
  private tick (): void {
    if (!this.ctx.writable()) return
    const ready = this.ctx.ready()
    this.beat()
      .then(async () => { if (ready && this.ctx.ready()) await this.reap() })
      .catch((err: unknown) => {
        if (ready) this.ctx.log.warn({ err }, 'rtc: liveness check failed')
        else this.ctx.log.debug({ err }, 'rtc: liveness check failed during an outage')
      })
  }

  /** Refreshes this process's liveness; notices when it was taken for dead or the backend lost its data. */
  async beat (): Promise<void> {
    const first = !this.announced
    const { known } = await this.heartbeat()
    this.announced = true
    if (first) return
    if (this.lost) this.ctx.resync(`${this.ctx.transport.name} lost its data`)
    else if (!known) this.ctx.resync('this process was taken for dead')
  }

  /** A heartbeat for a resync: true when the backend lost its data since the last repair. */
  async checkData (): Promise<boolean> {
    await this.heartbeat()
    return this.lost
  }

  /** A resync has rebuilt everything from the backend's data as it is now. */
  repaired (): void {
    this.lost = false
  }

  private async heartbeat (): Promise<{ known: boolean }> {
    const { transport, node, ttl, log } = this.ctx
    const processed = this.ctx.processed()
    const reply = await transport.heartbeat(node, ttl, randomUUID())
    const newEpoch = this.epoch !== null && reply.epoch !== this.epoch
    const counterBack = reply.seq !== null && reply.seq < processed
    this.epoch = reply.epoch
    if ((newEpoch || counterBack) && !this.lost) {
      this.lost = true
      log.warn({ newEpoch, counter: reply.seq, processed }, `rtc: ${transport.name} lost its data (a new epoch, or an event counter below what was seen): re-announcing members, rebuilding views`)
      this.ctx.lostData()
    }
    return reply
  }

  private async reap (): Promise<void> {
    const removed = await this.ctx.transport.reap()
    for (const { node, members } of removed) {
      this.ctx.log.info({ node, members }, 'rtc: removed the members of a process whose liveness key expired')
    }
    this.ctx.reaped(removed)
  }
}
