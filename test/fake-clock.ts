import type { Clock, TimerHandle } from '../lib/core/clock'

interface FakeTimer extends TimerHandle {
  readonly id: number
  at: number
  readonly ms: number
  readonly callback: () => void
  readonly repeat: boolean
}

/** A clock that moves only when the test says so: `advance(ms)` runs every timer due, in order. */
export class FakeClock implements Clock {
  time = 0
  readonly #timers = new Map<number, FakeTimer>()
  #ids = 0

  now (): number {
    return this.time
  }

  setInterval (callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, true)
  }

  setTimeout (callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, false)
  }

  clearInterval (timer: TimerHandle): void {
    this.#timers.delete((timer as FakeTimer).id)
  }

  clearTimeout (timer: TimerHandle): void {
    this.#timers.delete((timer as FakeTimer).id)
  }

  /** Timers not yet run or cleared (intervals stay until cleared). */
  get pending (): number {
    return this.#timers.size
  }

  /** Moves time on by `ms`, running every timer that falls due, earliest first. */
  advance (ms: number): void {
    const end = this.time + ms
    for (;;) {
      let due: FakeTimer | undefined
      for (const timer of this.#timers.values()) if (timer.at <= end && (due === undefined || timer.at < due.at)) due = timer
      if (due === undefined) break
      this.time = due.at
      if (due.repeat) due.at += Math.max(1, due.ms)
      else this.#timers.delete(due.id)
      due.callback()
    }
    this.time = end
  }

  #add (callback: () => void, ms: number, repeat: boolean): FakeTimer {
    const timer: FakeTimer = { id: ++this.#ids, at: this.time + ms, ms, callback, repeat, unref () {} }
    this.#timers.set(timer.id, timer)
    return timer
  }
}
