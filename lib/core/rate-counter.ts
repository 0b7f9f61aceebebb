/** Counts frames in fixed windows: cheap enough to run before a frame is parsed. */
export class RateCounter {
  #windowStart = 0
  #count = 0
  readonly #max: number
  readonly #window: number
  readonly #closeAt: number

  /** `max` frames per `window` ms are fine; at `closeAt` frames in one window the connection is closed. */
  constructor (max: number, window: number, closeAt: number) {
    this.#max = max
    this.#window = window
    this.#closeAt = closeAt
  }

  /** 'ok', 'limited' (drop this frame) or 'close' (the connection keeps flooding). */
  hit (now: number): 'ok' | 'limited' | 'close' {
    if (now - this.#windowStart >= this.#window) {
      this.#windowStart = now
      this.#count = 0
    }
    this.#count++
    if (this.#count <= this.#max) return 'ok'
    return this.#count >= this.#closeAt ? 'close' : 'limited'
  }
}
