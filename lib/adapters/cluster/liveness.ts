import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Transport } from './transport'

export interface LivenessContext {
  transport: Transport
  log: FastifyBaseLogger
  node: string
  /** Milliseconds a liveness mark lasts; it is refreshed every third of it. */
  ttl: number
  /** The connections are up, so a round can run. */
  ready: () => boolean
  /** This process must re-announce its members (taken for dead, or the backend lost its data). */
  resync: (reason: string) => void
  /** A round of reaping finished (for tests and monitoring). */
  reaped: (removed: Array<{ node: string, members: number }>) => void
}

/**
 * Liveness: each process refreshes a mark with a TTL and, in the same round, removes the members of
 * processes whose mark expired (the backend does that atomically, so each member is removed and
 * announced once however many survivors reap at once). A heartbeat also tells this process when
 * it was itself taken for dead, or when the backend lost its data (its epoch changed).
 */
export class Liveness {
  /** The backend's data set as last seen. */
  private epoch: string | null = null
  private readonly epochCandidate = randomUUID()
  private timer: NodeJS.Timeout | null = null
  /** The first heartbeat went through: this process is known to the cluster. */
  announced = false

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

  private tick (): void {
    if (!this.ctx.ready()) return
    this.beat()
      .then(() => this.reap())
      .catch((err: unknown) => this.ctx.log.warn({ err }, 'rtc: liveness check failed'))
  }

  /** Refreshes this process's liveness; notices when it was taken for dead or the backend lost its data. */
  async beat (): Promise<void> {
    const { known, epoch } = await this.heartbeat()
    const first = !this.announced
    this.announced = true
    const lostData = this.epoch !== null && epoch !== this.epoch
    this.epoch = epoch
    if (first) return
    if (lostData) this.ctx.resync(`${this.ctx.transport.name} lost its data`)
    else if (!known) this.ctx.resync('this process was taken for dead')
  }

  /** A heartbeat for a resync: true when the backend's data set is not the one last seen. */
  async checkEpoch (): Promise<boolean> {
    const previous = this.epoch
    const { epoch } = await this.heartbeat()
    this.epoch = epoch
    return previous !== null && epoch !== previous
  }

  private async heartbeat (): Promise<{ known: boolean, epoch: string }> {
    return await this.ctx.transport.heartbeat(this.ctx.node, this.ctx.ttl, this.epochCandidate)
  }

  private async reap (): Promise<void> {
    const removed = await this.ctx.transport.reap()
    for (const { node, members } of removed) {
      this.ctx.log.info({ node, members }, 'rtc: removed the members of a process whose liveness key expired')
    }
    this.ctx.reaped(removed)
  }
}
