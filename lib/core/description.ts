import { errors } from '../errors'
import type { Description } from '../types'

/** Descriptions go out as JSON: refuse what JSON cannot carry, and store `undefined` as `null`. */
export function checkDescription (description: unknown): Description {
  if (description === undefined || description === null) return null
  let text: string | undefined
  try {
    text = JSON.stringify(description)
  } catch (err) {
    throw new errors.FST_RTC_INVALID_DESCRIPTION((err as Error).message)
  }
  if (text === undefined) throw new errors.FST_RTC_INVALID_DESCRIPTION(`a ${typeof description} is not JSON`)
  return JSON.parse(text) as Description
}
