// `npm start`'s server (example/server.ts): where it listens. The browser test (test/browser/example.test.ts)
// covers what it serves.

import t from 'tap'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { startExample } from './example-process'

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
  const { port } = await startExample(t)
  t.same(await listeningAddresses(port), ['127.0.0.1'], 'without HOST: the loopback interface only')
  const { port: other } = await startExample(t, { HOST: '0.0.0.0' })
  t.same(await listeningAddresses(other), ['0.0.0.0'], 'HOST=0.0.0.0: every interface')
})
