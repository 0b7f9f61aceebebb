import { CLOSE_CODES } from '../protocol'
import { unrefTimeout, type Clock, type TimerHandle } from './clock'
import type { Endpoint } from './endpoint'

/** Waiting entries already expired or cancelled at the front, past which the lists are compacted. */
const COMPACT_AFTER = 1024

/**
 * `joinTimeout`: closes every connection that has not joined in time (1008, `join timeout`), with one
 * timer for the whole server rather than one per connection (a Node timer, its closure and their
 * context cost about 0.27 KB per connection). Every connection waits the same time, so deadlines
 * come in the order connections open: a queue, and a timer for its first live deadline.
 */
export class JoinTimeouts {
  readonly #clock: Clock
  readonly #ms: number
  /** Connections waiting to join, in the order they opened; null once joined or gone (cancelled). */
  readonly #waiting: Array<Endpoint | null> = []
  /** Each one's deadline (clock.now()). */
  readonly #deadlines: number[] = []
  /** Index of the first entry not yet expired. */
  #head = 0
  /** Tickets handed out for entries no longer in the lists (a ticket is #dropped + its index). */
  #dropped = 0
  /** Entries not cancelled nor expired. */
  #live = 0
  #timer: TimerHandle | null = null

  constructor (clock: Clock, ms: number) {
    this.#clock = clock
    this.#ms = ms
  }

  /** `endpoint` must join within joinTimeout; the ticket cancels that. */
  add (endpoint: Endpoint): number {
    this.#waiting.push(endpoint)
    this.#deadlines.push(this.#clock.now() + this.#ms)
    this.#live++
    if (this.#timer === null) this.#arm()
    return this.#dropped + this.#waiting.length - 1
  }

  /** It joined, or its socket is gone: no longer closed for the timeout. */
  cancel (ticket: number): void {
    const index = ticket - this.#dropped
    if (index < this.#head || index >= this.#waiting.length || this.#waiting[index] === null) return
    this.#waiting[index] = null
    if (--this.#live === 0) this.stop()
  }

  /** Forgets every entry and clears the timer (when none is left, and when the server closes). */
  stop (): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer)
    this.#timer = null
    this.#dropped += this.#waiting.length
    this.#waiting.length = 0
    this.#deadlines.length = 0
    this.#head = 0
    this.#live = 0
  }

  #arm (): void {
    while (this.#waiting[this.#head] === null) this.#head++ // cancelled: nothing to wait for
    const wait = Math.max(0, this.#deadlines[this.#head] - this.#clock.now())
    this.#timer = unrefTimeout(this.#clock, () => { this.#expire() }, wait)
  }

  #expire (): void {
    this.#timer = null
    const now = this.#clock.now()
    const due: Endpoint[] = []
    while (this.#head < this.#waiting.length && this.#deadlines[this.#head] <= now) {
      const endpoint = this.#waiting[this.#head]
      this.#waiting[this.#head++] = null
      if (endpoint !== null) due.push(endpoint)
    }
    this.#live -= due.length
    if (this.#live === 0) {
      this.stop()
    } else {
      if (this.#head > COMPACT_AFTER && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head)
        this.#deadlines.splice(0, this.#head)
        this.#dropped += this.#head
        this.#head = 0
      }
      this.#arm()
    }
    // closed last, the lists up to date: a close may cancel or add entries
    for (const endpoint of due) {
      if (endpoint.pool !== null || endpoint.closed) continue
      endpoint.request.log.debug({ peer: endpoint.id }, 'rtc: no join within joinTimeout, closing')
      endpoint.close(CLOSE_CODES.policy, 'join timeout')
    }
  }
}
