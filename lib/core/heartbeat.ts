/** A timer handle: Node's Timeout, or whatever a fake clock returns. */
export interface TimerHandle {
  unref?: () => unknown
}

/** The timer functions the core uses (heartbeat, ICE refresh); a test hands in fake ones. */
export interface Clock {
  setInterval (callback: () => void, ms: number): TimerHandle
  clearInterval (timer: TimerHandle): void
  /** One-shot timers (the ICE refresh of each member); the global ones when left out. */
  setTimeout? (callback: () => void, ms: number): TimerHandle
  clearTimeout? (timer: TimerHandle): void
  /** Milliseconds since the epoch (when ICE credentials are issued); `Date.now` when left out. */
  now? (): number
}

/** The global timers, looked up at each call (so that fake timers installed later apply too). */
const SYSTEM_CLOCK: Required<Clock> = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (timer) => { clearInterval(timer as NodeJS.Timeout) },
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => { clearTimeout(timer as NodeJS.Timeout) },
  now: () => Date.now()
}

/** `clock` with the members it leaves out taken from the system clock. */
export function completeClock (clock: Clock = SYSTEM_CLOCK): Required<Clock> {
  const bound = <K extends keyof Clock>(key: K): Required<Clock>[K] => {
    const f = clock[key]
    return (typeof f === 'function' ? f.bind(clock) : SYSTEM_CLOCK[key]) as Required<Clock>[K]
  }
  return {
    setInterval: bound('setInterval'),
    clearInterval: bound('clearInterval'),
    setTimeout: bound('setTimeout'),
    clearTimeout: bound('clearTimeout'),
    now: bound('now')
  }
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
