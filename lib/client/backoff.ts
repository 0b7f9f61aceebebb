// When to reconnect: exponential backoff with full jitter, a random first delay after a server
// drain (1012), and a time after which the client gives up. Pure functions of their arguments
// (the random source included), so the schedule is testable without a browser or a clock.

export interface ReconnectOptions {
  /** Base of the first delay in ms (default 250): attempt n waits a random time in [0, min(maxDelay, minDelay·2ⁿ)]. */
  minDelay?: number
  /** Largest delay in ms (default 5000). */
  maxDelay?: number
  /** Give up after this many failed attempts in a row (default: never, until giveUpAfterMs). */
  maxAttempts?: number
  /** Give up once the socket has been down this long (ms, default 60000); the pool then closes. */
  giveUpAfterMs?: number
}

export type ReconnectPolicy = Required<ReconnectOptions>

export const DEFAULT_RECONNECT: Readonly<ReconnectPolicy> = Object.freeze({
  minDelay: 250,
  maxDelay: 5_000,
  maxAttempts: Infinity,
  giveUpAfterMs: 60_000
})

/** After a 1012 (the server drains for a restart), the first attempt waits a random time up to this (ms), so a whole server's clients do not come back at once. */
export const DRAIN_SPREAD = 2_000

/** Close codes after which reconnecting is pointless: normal closure and policy (auth) refusal. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1008])

/** The policy for `reconnect: true | false | {...}`: null when off. */
export function reconnectPolicy (reconnect: boolean | ReconnectOptions): ReconnectPolicy | null {
  if (reconnect === false) return null
  return { ...DEFAULT_RECONNECT, ...(reconnect === true ? {} : withoutUndefined(reconnect)) }
}

/**
 * The delay before reconnection attempt `attempt` (0 for the first after a drop) after a close with
 * `code`, the socket having been down `downFor` ms; null to give up (final code, too many attempts,
 * or the attempt would come after giveUpAfterMs). `random` returns a number in [0, 1).
 */
export function reconnectDelay (policy: ReconnectPolicy, attempt: number, code: number, downFor: number, random: () => number = Math.random): number | null {
  if (FINAL_CLOSE_CODES.has(code) || attempt >= policy.maxAttempts) return null
  const ceiling = code === 1012 && attempt === 0 ? DRAIN_SPREAD : Math.min(policy.maxDelay, policy.minDelay * 2 ** attempt)
  const delay = Math.round(random() * ceiling)
  return downFor + delay > policy.giveUpAfterMs ? null : delay
}

function withoutUndefined<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
