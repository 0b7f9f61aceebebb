import { SYSTEM_CLOCK, type Clock, type TimerHandle } from './clock'

export type { Clock, TimerHandle } from './clock'

/** Calls `beat` every `interval` ms (ws's recommended ping/pong); 0 disables it. Never keeps the process alive. */
export class Heartbeat {
  readonly #interval: number
  readonly #beat: () => void
  readonly #clock: Clock
  #timer: TimerHandle | null = null

  constructor (interval: number, beat: () => void, clock: Clock = SYSTEM_CLOCK) {
    this.#interval = interval
    this.#beat = beat
    this.#clock = clock
  }

  start (): void {
    if (this.#interval <= 0 || this.#timer !== null) return
    this.#timer = this.#clock.setInterval(this.#beat, this.#interval)
    this.#timer.unref?.()
  }

  /** Idempotent. */
  stop (): void {
    if (this.#timer === null) return
    this.#clock.clearInterval(this.#timer)
    this.#timer = null
  }
}
