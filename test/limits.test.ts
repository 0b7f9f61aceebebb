import { test } from 'tap'
import { once } from 'node:events'
import { mock } from 'node:test'
import type { Socket } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type WebSocket from 'ws'
import rtcSignal from '../lib/index'
import { Client, joinAll, listen, refusedStatus } from './helpers'

test('heartbeat: a socket that misses its pong is terminated and its peers get rtc:close', async (t) => {
  // fake interval timers: the heartbeat fires when the test says so, not after wall-clock time
  mock.timers.enable({ apis: ['setInterval'] })
  const { url } = await listen(t, { privatePools: false, heartbeatInterval: 30_000 })
  t.teardown(() => { mock.timers.reset() })
  const beat = async (ws: WebSocket): Promise<void> => {
    const pinged = once(ws, 'ping')
    mock.timers.tick(30_000)
    await pinged
  }
  const [alive] = await joinAll(url, 'hb', 1)
  const silent = await Client.open(`${url}/rtc`, { autoPong: false })
  await silent.join('hb')
  await alive.expect('rtc:peer')
  const silentPinged = once(silent.ws, 'ping')
  await beat(alive.ws)
  await silentPinged
  // ws answers a ping before it emits 'ping': after a round trip, the server has the pong
  await alive.sync()
  mock.timers.tick(30_000)
  t.same(await alive.expect('rtc:close'), { id: silent.id, uid: silent.id })
  t.equal((await silent.closed).code, 1006, 'terminated, no close frame')
  // the live one answers every ping: it keeps being pinged and stays
  for (let i = 0; i < 3; i++) {
    await alive.sync()
    await beat(alive.ws)
  }
  t.equal(alive.ws.readyState, 1)
})

test('rate limit: frames over the limit get rate-limited; a flood is closed with 1008', async (t) => {
  const { url } = await listen(t, { privatePools: false, rateLimit: { max: 20, timeWindow: 60_000 } })
  const [a, b] = await joinAll(url, 'rl', 2)
  // a's rtc:join was the first of its 20 frames in this window
  for (let i = 0; i < 25; i++) a.send('rtc:candidate', { for: b.id, candidate: { i } })
  for (let i = 0; i < 19; i++) t.equal((await b.expect('rtc:candidate')).candidate.i, i)
  for (let i = 19; i < 25; i++) t.match(await a.expect('rtc:error'), { reason: 'rate-limited', message: /slow down/ })
  t.same(await b.sync(), [], 'refused frames were not relayed')
  t.equal(a.ws.readyState, 1, 'over the limit but not flooding: still open')
  for (let i = 0; i < 20; i++) a.send('rtc:candidate', { for: b.id, candidate: { i } })
  t.equal((await a.closed).code, 1008, 'twice the limit in one window closes the connection')
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id }, 'its peers are told')
  const c = await Client.open(`${url}/rtc`)
  await c.join('rl')
  t.pass('others are unaffected')
})

test('a frame larger than maxPayload closes the socket with 1009', async (t) => {
  const { url } = await listen(t, { privatePools: false, maxPayload: 1024 })
  const [a, b] = await joinAll(url, 'big', 2)
  a.send('rtc:sdp', { to: b.id, description: { type: 'offer', sdp: 'x'.repeat(2000) } })
  t.equal((await a.closed).code, 1009)
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
})

test('an app that registered @fastify/websocket itself: its maxPayload must not exceed the plugin\'s', async (t) => {
  // at most the plugin's: it works, and ws closes with 1009 at the app's own (smaller) limit
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket, { options: { maxPayload: 512 } })
  await app.register(rtcSignal, { privatePools: false, maxPayload: 1024 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const [a] = await joinAll(url, 'p', 1)
  a.send('x', { pad: 'y'.repeat(600) })
  t.equal((await a.closed).code, 1009)
  // larger (with permessage-deflate, a frame that size would be inflated before the plugin saw it): refused
  for (const options of [{ maxPayload: 1 << 20, perMessageDeflate: true }, {}]) {
    const big = Fastify()
    await big.register(websocket, { options })
    await t.rejects(async () => {
      await big.register(rtcSignal, { privatePools: false, maxPayload: 1024 })
      await big.ready()
    }, { code: 'FST_RTC_WEBSOCKET_MAX_PAYLOAD', statusCode: 500, message: /options\.maxPayload <= 1024/ }, JSON.stringify(options))
    await big.close()
  }
})

test('a slow reader is dropped instead of buffering without bound; its peers get rtc:close', async (t) => {
  const { app, url } = await listen(t, { privatePools: false, rateLimit: false, maxBufferedBytes: 64 * 1024, maxMembers: 8 })
  const [fast, slow, watcher] = await joinAll(url, 'slow', 3)
  // stop reading: the kernel buffers fill, then the server's queue grows past maxBufferedBytes
  const raw = (slow.ws as unknown as { _socket: Socket })._socket
  raw.pause()
  const description = { type: 'offer', sdp: 'a='.padEnd(60_000, 'x') }
  const gone = watcher.expect('rtc:close', 30_000)
  let sent = 0
  const state = { closed: false }
  gone.then(() => { state.closed = true }, () => {})
  // bounded: at most 2,000 frames (120 MB), stopping as soon as the server drops the reader
  while (!state.closed && sent < 2000) {
    fast.send('rtc:sdp', { to: slow.id, description })
    sent++
    if (sent % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  t.same(await gone, { id: slow.id, uid: slow.id })
  t.ok(sent < 2000, `dropped after ${sent} frames`)
  t.equal(app.rtcPools.endpoint(slow.id), undefined, 'the server let go of it')
  raw.resume()
  t.equal(fast.ws.readyState, 1, 'the sender is unaffected')
})

test('joinTimeout: a socket that has not joined in time is closed with 1008; one that joined stays', async (t) => {
  const { app, url } = await listen(t, { privatePools: true, joinTimeout: 200 })
  await app.rtcPools.createPool('room')
  const member = await Client.open(`${url}/rtc`)
  await member.join('room')
  const refused = await Client.open(`${url}/rtc`)
  refused.send('rtc:join', { pool: 'nowhere' })
  t.match(await refused.expect('rtc:error'), { reason: 'no-such-pool' })
  const idle = await Client.open(`${url}/rtc`)
  t.same(await refused.closed, { code: 1008, reason: 'join timeout' }, 'a refused join does not count as joined')
  t.same(await idle.closed, { code: 1008, reason: 'join timeout' })
  // the member's timer would have fired before the idle socket's: it was cleared on join
  t.same(await member.sync(), [])
  t.equal(member.ws.readyState, 1, 'a member is never closed for it')
  t.same(app.rtcPools.stats(), { connections: 1, pools: 1 })
})

test('client-caused WebSocket protocol errors are logged at debug, not error', async (t) => {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      cb()
    }
  })
  const { url } = await listen(t, { privatePools: false, maxPayload: 1024 }, { logger: { level: 'debug', stream } })
  // 20 bad clients: invalid UTF-8 in a text frame, a reserved opcode, a frame over maxPayload
  const expected: number[] = []
  const closes: Array<Promise<{ code: number }>> = []
  for (let i = 0; i < 20; i++) {
    const c = await Client.open(`${url}/rtc`)
    closes.push(c.closed)
    const raw = (c.ws as unknown as { _socket: Socket })._socket
    switch (i % 3) {
      case 0: c.ws.send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), { binary: false }); expected.push(1007); break
      case 1: raw.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])); expected.push(1002); break
      default: c.send('x', { pad: 'y'.repeat(2000) }); expected.push(1009)
    }
  }
  t.same((await Promise.all(closes)).map((c) => c.code), expected, 'each closed with its code')
  const [ok] = await joinAll(url, 'p', 1)
  t.ok(ok.id, 'the server goes on')
  t.same(lines.filter((l) => l.level >= 50), [], 'no error-level line')
  const debug = lines.filter((l) => l.level === 20 && /^WS_ERR_/.test(l.code ?? ''))
  t.equal(debug.length, 20, 'one debug line per bad client, with ws\'s code')
  t.notOk(debug.some((l) => 'stack' in l || 'err' in l), 'without a stack')
})

/** Resolves once the server has let go of member `id` (its TCP socket has closed). */
async function left (app: FastifyInstance, id: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const listener = ({ endpoint }: { endpoint: { id: string } }): void => {
      if (endpoint.id !== id) return
      app.rtcPools.off('leave', listener)
      resolve()
    }
    app.rtcPools.on('leave', listener)
  })
}

test('maxConnections: 503 before the upgrade, one warn line per second; a closed socket frees its slot', async (t) => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
  t.teardown(() => { mock.timers.reset() })
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      cb()
    }
  })
  const { app, url } = await listen(t, { privatePools: false, maxConnections: 3 }, { logger: { level: 'info', stream } })
  const clients = await joinAll(url, 'full', 3)
  // a plain GET on the same routes (here on a real keep-alive socket) is not an upgrade: not counted, not refused
  for (let i = 0; i < 2; i++) t.equal((await fetch(`${url.replace('ws:', 'http:')}/rtc`)).status, 426)
  for (let i = 0; i < 4; i++) t.equal(await refusedStatus(`${url}/rtc/full`), 503, `refused ${i}`)
  const warned = (): Array<Record<string, any>> => lines.filter((l) => l.level === 40)
  t.equal(warned().length, 1, 'one warn line for four refusals in the same second')
  t.match(warned()[0], { msg: /maxConnections/, maxConnections: 3 })
  mock.timers.tick(1000)
  t.equal(await refusedStatus(`${url}/rtc`), 503)
  t.equal(warned().length, 2, 'a second later, another')
  const gone = left(app, clients[0].id)
  clients[0].close()
  await gone
  const again = await Client.open(`${url}/rtc`)
  await again.join('full')
  t.pass('the freed slot is taken')
  t.equal(await refusedStatus(`${url}/rtc`), 503, 'and the server is full again')
})

test('maxConnectionsPerIp: 429 per request.ip, which trustProxy takes from X-Forwarded-For', async (t) => {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      cb()
    }
  })
  const { app, url } = await listen(t, { privatePools: false, maxConnectionsPerIp: 2 }, { trustProxy: true, logger: { level: 'info', stream } })
  const from = (ip: string): { headers: Record<string, string> } => ({ headers: { 'x-forwarded-for': ip } })
  const a1 = await Client.open(`${url}/rtc`, from('10.0.0.1'))
  const a2 = await Client.open(`${url}/rtc`, from('10.0.0.1'))
  t.equal(await refusedStatus(`${url}/rtc`, from('10.0.0.1').headers), 429, 'a third from one address')
  const b1 = await Client.open(`${url}/rtc`, from('10.0.0.2'))
  await b1.join('p')
  t.pass('another address is not affected')
  t.match(lines.filter((l) => l.level === 30 && /maxConnectionsPerIp/.test(l.msg)), [{ ip: '10.0.0.1', maxConnectionsPerIp: 2 }], 'an info line')
  await a1.join('p')
  const gone = left(app, a1.id)
  a1.close()
  await gone
  const a3 = await Client.open(`${url}/rtc`, from('10.0.0.1'))
  await a3.join('p')
  t.pass('a closed socket frees its address\'s slot')
  t.equal(await refusedStatus(`${url}/rtc`, from('10.0.0.1').headers), 429)
  a2.close()
})
