// `npm start`'s server (example/server.ts) in its own process, on a free port.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'

const ROOT = join(__dirname, '..')

/**
 * Starts example/server.ts with PORT=0, LOG_LEVEL=info and `env` (HOST unset unless `env` sets
 * it); resolves with the origin and port it listens on, read from its log. SIGTERM at teardown.
 */
export async function startExample (t: Test, env: Record<string, string> = {}): Promise<{ origin: string, port: number }> {
  const { HOST: _host, ...inherited } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', 'example/server.ts'], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  })
  const lines = createInterface({ input: child.stdout })
  return await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`example/server.ts exited with ${code}`)))
    lines.on('line', (line) => {
      const match = /Server listening at (http:\/\/[^ "]+:(\d+))/.exec(line)
      if (match !== null) resolve({ origin: match[1], port: Number(match[2]) })
    })
  })
}
