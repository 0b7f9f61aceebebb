// `npm start`'s server (example/server.ts), or another script of the same kind, in its own process
// on a free port.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'

const ROOT = join(__dirname, '..')

export interface ExampleProcess {
  origin: string
  port: number
  /** Every line it wrote to stdout (its log) so far. */
  lines: string[]
  /** SIGTERM (a no-op once exited); resolves with its exit code, or the signal that ended it. */
  stop: () => Promise<number | string>
}

/**
 * Starts `script` (default example/server.ts, relative to the repository) with PORT=0,
 * LOG_LEVEL=info and `env` (HOST unset unless `env` sets it); resolves once it listens, with the
 * origin and port read from its log. SIGTERM at teardown.
 */
export async function startExample (t: Test, env: Record<string, string> = {}, script = 'example/server.ts'): Promise<ExampleProcess> {
  const { HOST: _host, ...inherited } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string)
  const stop = async (): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    return await exited
  }
  t.teardown(stop)
  const lines: string[] = []
  const log = createInterface({ input: child.stdout })
  return await new Promise((resolve, reject) => {
    exited.then((code) => reject(new Error(`${script} exited with ${code}`)), reject)
    log.on('line', (line) => {
      lines.push(line)
      const match = /Server listening at (http:\/\/[^ "]+:(\d+))/.exec(line)
      if (match !== null) resolve({ origin: match[1], port: Number(match[2]), lines, stop })
    })
  })
}
