/** A timer handle: Node's Timeout, or whatever a fake clock returns. */
export interface TimerHandle {
  unref?: () => unknown
}

/** Time and timers for the core (heartbeat, join timeouts, slow readers, rate limit); a test hands in fake ones. */
export interface Clock {
  /** Milliseconds since the epoch (compared with each other, and the time ICE credentials are issued at). */
  now (): number
  setInterval (callback: () => void, ms: number): TimerHandle
  clearInterval (timer: TimerHandle): void
  setTimeout (callback: () => void, ms: number): TimerHandle
  clearTimeout (timer: TimerHandle): void
}

/** The global timers, looked up at each call (so that fake timers installed later apply too). */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (timer) => { clearInterval(timer as NodeJS.Timeout) },
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => { clearTimeout(timer as NodeJS.Timeout) }
}

/** A timeout that never keeps the process alive. */
export function unrefTimeout (clock: Clock, callback: () => void, ms: number): TimerHandle {
  const timer = clock.setTimeout(callback, ms)
  timer.unref?.()
  return timer
}
