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

export function integer (name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalid(name, `expected an integer >= ${min}, got ${describeValue(value)}`)
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

/** A plain object (not null, not an array); `{}` when none is given. */
export function plainObject<T> (name: string, value: unknown): T {
  if (value === undefined) return {} as T
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(name, `expected an object, got ${describeValue(value)}`)
  }
  return value as T
}
