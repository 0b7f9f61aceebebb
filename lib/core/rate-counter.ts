/**
 * A connection's rate limit, cheap enough to run before a frame is parsed: a token bucket that
 * holds `max` tokens and refills `max` per `window` ms, continuously; a frame takes one. A frame
 * with no token is refused, and counted in a second bucket that drains at half the refill rate:
 * when that one reaches `closeAt` (`max` in the plugin) the connection keeps flooding and is closed. So a sender under the
 * limit never loses a frame, one at 1.2x gets exactly the limit through and a refusal for the
 * rest, and one sustaining more than 1.5x is closed within about two windows of running dry.
 *
 * Levels are kept in 1/window of a token, so integer times give exact integer arithmetic.
 */
export class RateCounter {
  readonly #max: number
  readonly #window: number
  /** `max` tokens, in 1/window units. */
  readonly #capacity: number
  /** `closeAt` refusals, in 1/window units. */
  readonly #closeAt: number
  #tokens: number
  #refused = 0
  #last: number

  /**
   * `max` frames per `window` ms; `closeAt` refusals not yet drained close the connection; `now` is
   * the clock's time when the connection opened (the bucket starts full).
   */
  constructor (max: number, window: number, closeAt: number, now: number) {
    this.#max = max
    this.#window = window
    this.#capacity = max * window
    this.#closeAt = closeAt * window
    this.#tokens = this.#capacity
    this.#last = now
  }

  /** 'ok', 'limited' (drop this frame) or 'close' (the connection keeps flooding). */
  hit (now: number): 'ok' | 'limited' | 'close' {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#last = now
      this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#max)
      this.#refused = Math.max(0, this.#refused - elapsed * this.#max / 2)
    }
    if (this.#tokens >= this.#window) {
      this.#tokens -= this.#window
      return 'ok'
    }
    this.#refused += this.#window
    // a refusal counts until it has fully drained: the closeAt-th refusal in a burst closes, whatever a few ms drained
    return this.#refused > this.#closeAt - this.#window ? 'close' : 'limited'
  }
}
