import { errors } from './errors'

/**
 * Checks of values given by server code (plugin options, `createPool`, `redisAdapter()`). Each
 * returns the value (or the fallback when it is `undefined`) or throws FST_RTC_INVALID_OPTION
 * naming the option.
 */

export function invalid (name: string, why: string): Error {
  return new errors.FST_RTC_INVALID_OPTION(name, why)
}

/** A short, safe rendering of a wrong value for an error message. */
export function describeValue (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'string': return JSON.stringify(value)
    case 'number':
    case 'bigint':
    case 'boolean': return String(value)
    default: return typeof value
  }
}

export function integer (name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    throw invalid(name, `expected an integer ${range}, got ${describeValue(value)}`)
  }
  return value
}

export function boolean (name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalid(name, `expected a boolean, got ${describeValue(value)}`)
  return value
}

/** A function, or null when none is given. */
export function fn<T> (name: string, value: unknown): T | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'function') throw invalid(name, `expected a function, got ${describeValue(value)}`)
  return value as T
}

/**
 * Throws for the first key of `value` that is not in `known`, suggesting the nearest known key
 * (edit distance at most 2: `privatePool` → `privatePools`).
 */
export function knownKeys (value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue
    const near = nearest(key, known)
    throw invalid(key, near === null ? 'unknown option' : `unknown option, did you mean "${near}"?`)
  }
}

/** The candidate closest to `name` by edit distance, if within `max`. */
function nearest (name: string, candidates: readonly string[], max = 2): string | null {
  let best: string | null = null
  let bestDistance = max + 1
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance (a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return Infinity // far apart: no need to count exactly
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]
}

/** A plain object (not null, not an array); `{}` when none is given. */
export function plainObject<T> (name: string, value: unknown): T {
  if (value === undefined) return {} as T
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(name, `expected an object, got ${describeValue(value)}`)
  }
  return value as T
}
