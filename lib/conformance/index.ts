/**
 * `fastify-rtc-signal conformance <url>`: runs the ssp-v2 checks one after another against a
 * server, each with its own pools, sockets and time budget, and reports pass/fail/skip.
 */
import { CHECKS, type Check } from './checks'
import { CheckFailure } from './connection'
import { CheckContext } from './context'

export { CHECKS, type Check } from './checks'

export type Status = 'pass' | 'fail' | 'skip'

export interface CheckResult {
  name: string
  covers: string
  status: Status
  /** Why it failed or was skipped; empty when it passed. */
  detail: string
  ms: number
}

export interface ConformanceOptions {
  /** The signalling WebSocket, e.g. ws://127.0.0.1:9000/rtc. */
  url: string
  poolPrefix: string
  /** The longest one check may take, connecting included. */
  timeout: number
  flood: boolean
  /** Called as each check ends (to print progress). */
  onResult?: (result: CheckResult) => void
}

export interface ConformanceReport {
  url: string
  results: CheckResult[]
  passed: number
  failed: number
  skipped: number
}

async function runOne (check: Check, opts: ConformanceOptions): Promise<CheckResult> {
  const base = { name: check.name, covers: check.covers }
  const skip = check.skip?.({ flood: opts.flood }) ?? null
  if (skip !== null) return { ...base, status: 'skip', detail: skip, ms: 0 }
  const ctx = new CheckContext(opts.url, opts.poolPrefix, opts.timeout)
  const started = performance.now()
  const why = `no answer within ${opts.timeout} ms`
  let timer: NodeJS.Timeout | undefined
  // Unref'd: while a check waits, one of its sockets (open or connecting) keeps the process alive.
  const deadline = new Promise<never>((resolve, reject) => {
    timer = setTimeout(() => {
      ctx.abort(why)
      // The check's own failure names what it waited for; this one is for a check that missed the abort.
      setImmediate(() => reject(new CheckFailure(why)))
    }, opts.timeout)
    timer.unref()
  })
  const run = check.run(ctx)
  run.catch(() => {}) // when the deadline wins, the check's own rejection comes later
  try {
    await Promise.race([run, deadline])
    return { ...base, status: 'pass', detail: '', ms: Math.round(performance.now() - started) }
  } catch (err) {
    const detail = err instanceof CheckFailure ? err.message : `the check threw: ${String((err as Error)?.stack ?? err)}`
    return { ...base, status: 'fail', detail, ms: Math.round(performance.now() - started) }
  } finally {
    clearTimeout(timer)
    await ctx.dispose()
  }
}

export async function runConformance (opts: ConformanceOptions): Promise<ConformanceReport> {
  const results: CheckResult[] = []
  for (const check of CHECKS) {
    const result = await runOne(check, opts)
    results.push(result)
    opts.onResult?.(result)
  }
  const count = (status: Status): number => results.filter((r) => r.status === status).length
  return { url: opts.url, results, passed: count('pass'), failed: count('fail'), skipped: count('skip') }
}

const NAME_WIDTH = Math.max(...CHECKS.map((c) => c.name.length))
const COVERS_WIDTH = Math.max(...CHECKS.map((c) => c.covers.length))

export function formatHeader (opts: Pick<ConformanceOptions, 'url' | 'timeout'>): string {
  return `ssp-v2 conformance of ${opts.url} (at most ${opts.timeout} ms per check)\n\n` +
    `  ${'result'.padEnd(6)}  ${'check'.padEnd(NAME_WIDTH)}  ${'covers'.padEnd(COVERS_WIDTH)}  detail\n`
}

/** One row of the table. */
export function formatResult (r: CheckResult): string {
  const detail = r.status === 'pass' ? `${r.ms} ms` : r.detail
  return `  ${r.status.toUpperCase().padEnd(6)}  ${r.name.padEnd(NAME_WIDTH)}  ${r.covers.padEnd(COVERS_WIDTH)}  ${detail}\n`
}

export function formatSummary (report: ConformanceReport): string {
  return `\n${report.results.length} checks: ${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped\n`
}
