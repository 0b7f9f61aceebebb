// The browser tests' TCP load balancer (tcp-proxy.ts) on its own: which backend a connection
// reaches, skipping refusals, a changed list, and close().

import { once } from 'node:events'
import net from 'node:net'
import t, { type Test } from 'tap'
import { freePort } from '../cluster/redis'
import { TcpProxy } from './tcp-proxy'

/** A backend that greets each connection with its name, then echoes. */
async function backend (t: Test, name: string): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.write(`${name}:`)
    socket.pipe(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  return (server.address() as net.AddressInfo).port
}

/** Connects through `proxy`, sends `text`; resolves with everything received until the proxy ends the connection or `expect` bytes came. */
async function exchange (proxy: TcpProxy, text: string, expect = Infinity): Promise<{ socket: net.Socket, received: string }> {
  const socket = net.connect(proxy.port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write(text)
  let received = ''
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk) => {
      received += String(chunk)
      if (received.length >= expect) resolve()
    })
    socket.once('close', () => resolve())
  })
  return { socket, received }
}

t.test('round robin over the backends, a refusing one skipped, the list changed at any time', async (t) => {
  const [a, b, dead] = [await backend(t, 'a'), await backend(t, 'b'), await freePort()]
  const proxy = await TcpProxy.start([dead, a, b])
  t.teardown(() => proxy.close())
  const seen = []
  for (let i = 0; i < 3; i++) seen.push((await exchange(proxy, `${i}`, 3)).received)
  t.same(seen.map((s) => s.slice(0, 2)).sort(), ['a:', 'a:', 'b:'], 'the refusing backend is skipped: its turn goes to the next one')
  t.same(seen.map((s) => s.slice(2)), ['0', '1', '2'], 'bytes pass both ways, the client\'s sent before the backend was reached included')
  const kept = await exchange(proxy, 'x', 3)
  proxy.setBackends([b])
  for (let i = 0; i < 2; i++) t.equal((await exchange(proxy, '', 2)).received, 'b:', 'after setBackends, new connections reach the new list only')
  const echoed = once(kept.socket, 'data')
  kept.socket.write('still')
  t.equal(String((await echoed)[0]), 'still', 'a connection made before stays where it is')
})

t.test('no backend up: the connection is closed; close() ends every connection', async (t) => {
  const a = await backend(t, 'a')
  const proxy = await TcpProxy.start([await freePort()])
  t.equal((await exchange(proxy, 'hello')).received, '', 'every backend refuses: closed with nothing received')
  proxy.setBackends([])
  t.equal((await exchange(proxy, 'hello')).received, '', 'an empty list: the same')
  proxy.setBackends([a])
  const { socket } = await exchange(proxy, 'x', 3)
  const closed = once(socket, 'close')
  await proxy.close()
  await closed
  t.pass('an open connection is closed by close()')
  const refused = net.connect(proxy.port, '127.0.0.1')
  const [err] = await once(refused, 'error') as [NodeJS.ErrnoException]
  t.equal(err.code, 'ECONNREFUSED', 'and nothing listens any more')
})
