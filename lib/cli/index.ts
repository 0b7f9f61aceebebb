#!/usr/bin/env node
/**
 * `npx fastify-rtc-signal [options]`: a standalone signalling server, no code to write.
 * `npx fastify-rtc-signal conformance <ws-url>`: the ssp-v2 checks against any server.
 * Exit codes: 0 done, 1 failure (the server could not start, a conformance check failed),
 * 2 bad command line or environment.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COMMAND, parseCommand, usage, UsageError, type ConformanceConfig } from './args'
import { closeOnSignals, createServer, startServer } from './serve'
import { formatHeader, formatResult, formatSummary, runConformance } from '../conformance/index'

/** package.json sits two levels up both from lib/cli (tsx) and from dist/cli (built). */
function version (): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

async function conformance (config: ConformanceConfig): Promise<number> {
  const out = (text: string): void => { if (!config.json) process.stdout.write(text) }
  out(formatHeader(config))
  const report = await runConformance({ ...config, onResult: (r) => out(formatResult(r)) })
  if (config.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else out(formatSummary(report))
  return report.failed === 0 ? 0 : 1
}

async function main (): Promise<void> {
  // `... | head`: a reader that went away is not an error of this command.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit()
  })
  let command
  try {
    command = parseCommand(process.argv.slice(2), process.env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`${COMMAND}: ${err.message} (see ${COMMAND} --help)\n`)
    process.exitCode = 2
    return
  }
  switch (command.command) {
    case 'help':
      process.stdout.write(usage(command.topic, version()))
      return
    case 'version':
      process.stdout.write(`${version()}\n`)
      return
    case 'conformance':
      // Should the event loop ever run dry before the report, the exit code must not say "passed".
      process.exitCode = 1
      process.exitCode = await conformance(command.config)
      return
    case 'serve': {
      const app = createServer(command.config)
      closeOnSignals(app)
      try {
        await startServer(app, command.config)
      } catch (err) {
        const message = (err as Error).message.replace(`${COMMAND}: `, '')
        process.stderr.write(`${COMMAND}: cannot start: ${message}\n`)
        process.exit(1)
      }
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${COMMAND}: ${String((err as Error)?.stack ?? err)}\n`)
  process.exit(1)
})
