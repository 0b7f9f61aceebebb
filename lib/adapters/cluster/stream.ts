import type { FastifyBaseLogger } from 'fastify'
import type { Inbound } from './transport'

interface Waiter {
  pool: string
  seq: number
  resolve: (inStream: boolean) => void
  timer: NodeJS.Timeout
}

/**
 * The ordered stream of what this process receives (pool events and messages from other
 * processes), applied one item at a time in arrival order. While it is held (a resync runs, or our
 * own join's event came back before the script's reply), items queue and are applied once released.
 * `processed` is the highest event seq applied, and each pool's highest is kept too: an operation
 * started here awaits its own event in its pool (a backend may number each pool's events on its own).
 */
export class EventStream {
  private readonly queue: Inbound[] = []
  private holds = 0
  private waiters: Waiter[] = []
  /** Highest event seq applied. */
  processed = 0
  /** Highest event seq applied, per subscribed pool. */
  private readonly pools = new Map<string, number>()

  constructor (
    private readonly apply: (item: Inbound) => void,
    private readonly log: FastifyBaseLogger,
    private readonly waitMs: number
  ) {}

  push (item: Inbound): void {
    if (this.holds > 0 || this.queue.length > 0) this.queue.push(item)
    else this.run(item)
  }

  hold (): void {
    this.holds++
  }

  release (): void {
    this.holds--
    while (this.holds === 0 && this.queue.length > 0) this.run(this.queue.shift() as Inbound)
  }

  private run (item: Inbound): void {
    try {
      this.apply(item)
      if (item.type === 'pool') this.advance(item.event.seq, false, item.pool)
    } catch (err) {
      this.log.error({ err }, 'rtc: applying a cluster event failed')
    }
  }

  /**
   * Records that events up to `seq` are applied (`force`: even below what was, after a resync): of
   * `pool`, or (without one) the highest of all, which resolves no waiter.
   */
  advance (seq: number, force = false, pool?: string): void {
    if (seq > this.processed || (force && pool === undefined)) this.processed = seq
    if (pool === undefined) return
    if (seq <= (this.pools.get(pool) ?? 0) && !force) return
    this.pools.set(pool, seq)
    if (this.waiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.waiters) {
      if (w.pool === pool && w.seq <= seq) { clearTimeout(w.timer); w.resolve(true) } else still.push(w)
    }
    this.waiters = still
  }

  /** This process no longer follows `pool`. */
  forget (pool: string): void {
    this.pools.delete(pool)
  }

  /**
   * The backend lost its data: its counter starts again, so no seq seen so far says what is
   * applied. Until events (or a resync) advance it again, waiters wait instead of resolving at once.
   */
  rebase (): void {
    this.processed = 0
    this.pools.clear()
  }

  /** Resolves true once event `seq` is applied; false if it does not come back in time. */
  applied (seq: number, pool: string): Promise<boolean> {
    if (seq <= (this.pools.get(pool) ?? 0)) return Promise.resolve(true)
    return new Promise((resolve) => {
      const w: Waiter = {
        pool,
        seq,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w)
          this.log.warn({ pool, seq }, 'rtc: an event did not come back through the subscriber in time; applied directly')
          resolve(false)
        }, this.waitMs)
      }
      w.timer.unref()
      this.waiters.push(w)
    })
  }

  /** Nothing more will come back (connection lost, closing): every waiter resolves false. */
  abandon (): void {
    for (const w of this.waiters) { clearTimeout(w.timer); w.resolve(false) }
    this.waiters = []
  }

  /** Drops what is queued (closing). */
  clear (): void {
    this.queue.length = 0
  }
}
