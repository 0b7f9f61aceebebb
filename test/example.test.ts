// `npm start`'s server (example/server.ts): where it listens. The browser test (test/browser/example.test.ts)
// covers what it serves.

import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'

const ROOT = join(__dirname, '..')

/** Starts example/server.ts with PORT=0 and `env`; resolves with the port it listens on, read from its log. */
async function startExample (t: Test, env: Record<string, string>): Promise<number> {
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
      const match = /Server listening at http:\/\/[^ "]+:(\d+)/.exec(line)
      if (match !== null) resolve(Number(match[1]))
    })
  })
}

/** The local addresses of the listening TCP sockets on `port`, from the kernel's table (Linux). */
async function listeningAddresses (port: number): Promise<string[]> {
  const LISTEN = '0A'
  const addresses: string[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue
    for (const row of (await readFile(file, 'utf8')).split('\n').slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/)
      if (local === undefined || state !== LISTEN) continue
      const [hex, portHex] = local.split(':')
      if (parseInt(portHex, 16) !== port) continue
      addresses.push(hex.length === 8 ? hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : hex)
    }
  }
  return addresses
}

t.test('npm start listens on 127.0.0.1 unless HOST says otherwise', { skip: existsSync('/proc/net/tcp') ? false : 'needs /proc/net/tcp (Linux)' }, async (t) => {
  const port = await startExample(t, {})
  t.same(await listeningAddresses(port), ['127.0.0.1'], 'without HOST: the loopback interface only')
  const other = await startExample(t, { HOST: '0.0.0.0' })
  t.same(await listeningAddresses(other), ['0.0.0.0'], 'HOST=0.0.0.0: every interface')
})
