/** A timer handle: Node's Timeout, or whatever a fake clock returns. */
export interface TimerHandle {
  unref?: () => unknown
}

/** The timer functions the heartbeat uses; a test hands in fake ones. */
export interface Clock {
  setInterval (callback: () => void, ms: number): TimerHandle
  clearInterval (timer: TimerHandle): void
}

/** The global timers, looked up at each call (so that fake timers installed later apply too). */
const SYSTEM_CLOCK: Clock = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (timer) => { clearInterval(timer as NodeJS.Timeout) }
}

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
