import { errors } from '../errors'
import type { Description } from '../types'

/**
 * Descriptions go out as JSON: refuse what JSON cannot carry or what is over `maxBytes` (bytes of
 * its JSON, UTF-8: it is copied into every rtc:joined and rtc:describe), and store `undefined` as `null`.
 */
export function checkDescription (description: unknown, maxBytes: number): Description {
  if (description === undefined || description === null) return null
  let text: string | undefined
  try {
    text = JSON.stringify(description)
  } catch (err) {
    throw new errors.FST_RTC_INVALID_DESCRIPTION((err as Error).message)
  }
  if (text === undefined) throw new errors.FST_RTC_INVALID_DESCRIPTION(`a ${typeof description} is not JSON`)
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text)
    if (bytes > maxBytes) throw new errors.FST_RTC_DESCRIPTION_TOO_LARGE(`${bytes} bytes of JSON, over maxDescriptionBytes (${maxBytes})`)
  }
  return JSON.parse(text) as Description
}
