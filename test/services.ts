// Tests that need a service from the machine (redis-server, turnserver): skipped, loudly, without it.
import t from 'tap'

/**
 * Declares `tests` when the service they need is here (`missing` is null); otherwise one skipped
 * test named `title` that says why, and a banner on stderr that a CI log cannot hide.
 */
export function whenAvailable (missing: string | null, title: string, tests: () => void): void {
  if (missing === null) {
    tests()
    return
  }
  process.stderr.write(`\n!!!!!!!!!!\n!!! SKIPPED: ${title}: ${missing}\n!!!!!!!!!!\n\n`)
  t.test(title, { skip: missing }, async () => {})
}
