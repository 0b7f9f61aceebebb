import { test } from 'tap'
import { once } from 'node:events'
import { mock } from 'node:test'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { WebSocketServer, type WebSocket } from 'ws'
import { createCore } from '../lib/core/core'
import type { ConnectionRequest } from '../lib/core/endpoint'
import rtcSignal, { type RtcSignalOptions } from '../lib/index'
import { normalizeOptions } from '../lib/options'
import { FakeClock } from './fake-clock'
import { Client, joinAll, listen, logCapture, refusedStatus, silent, type Tap } from './helpers'

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

test('rate limit: a frame with no token gets rate-limited; refusals that keep coming close with 1008', async (t) => {
  // a long window: nothing refills while the test runs (20 tokens per 10 minutes); the fake-clock tests below cover refill
  const { url } = await listen(t, { privatePools: false, rateLimit: { max: 20, timeWindow: 600_000 } })
  const [a, b] = await joinAll(url, 'rl', 2)
  // a's rtc:join took the first of its 20 tokens
  for (let i = 0; i < 25; i++) a.send('rtc:candidate', { for: b.id, candidate: { i } })
  for (let i = 0; i < 19; i++) t.equal((await b.expect('rtc:candidate')).candidate.i, i)
  for (let i = 19; i < 25; i++) t.match(await a.expect('rtc:error'), { reason: 'rate-limited', message: /slow down/ })
  t.same(await b.sync(), [], 'refused frames were not relayed')
  t.equal(a.ws.readyState, 1, 'refused, not closed: 6 refusals so far')
  // every refusal is counted (draining at half the refill rate); the 20th (rateLimit.max) closes the connection
  for (let i = 0; i < 14; i++) a.send('rtc:candidate', { for: b.id, candidate: { i } })
  for (let i = 0; i < 14; i++) t.match(await a.expect('rtc:error'), { reason: 'rate-limited' })
  t.same(await a.closed, { code: 1008, reason: 'rate limit exceeded' }, 'refusal 6 + 14 = 20 closes it')
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

/** Stops reading a client's socket: the kernel buffers fill, then the server's queue for it grows. */
function pause (c: Client): Socket {
  const raw = (c.ws as unknown as { _socket: Socket })._socket
  raw.pause()
  return raw
}

/** Sends 60 KB offers from `sender` to `to` until the server answers one with an error (at most 2,000: 120 MB); returns how many were sent. */
async function blast (sender: Client, to: string): Promise<number> {
  const description = { type: 'offer', sdp: 'a='.padEnd(60_000, 'x') }
  const state = { answered: false }
  const onMessage = (): void => { state.answered = true }
  sender.ws.once('message', onMessage)
  let sent = 0
  while (!state.answered && sent < 2000) {
    sender.send('rtc:sdp', { to, description })
    sent++
    if (sent % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  sender.ws.off('message', onMessage)
  return sent
}

test('peer-busy: the sender pays; a reader that stopped reading is not dropped for it', async (t) => {
  const { app, url } = await listen(t, { privatePools: false, rateLimit: false, maxBufferedBytes: 256 * 1024 })
  const [fast, slow, watcher] = await joinAll(url, 'busy', 3)
  const raw = pause(slow)
  const sent = await blast(fast, slow.id)
  t.ok(sent < 2000, `refused after ${sent} frames`)
  t.match(await fast.expect('rtc:error'), { reason: 'peer-busy', type: 'rtc:sdp', to: slow.id })
  const more = await fast.sync() // the refusals of frames still in flight
  t.ok(more.every((m) => m.type === 'rtc:error' && m.data.reason === 'peer-busy'), 'nothing but peer-busy')
  t.ok(app.rtcPools.endpoint(slow.id) !== undefined, 'the reader is still connected')
  t.same(await watcher.sync(), [], 'and still a member: no rtc:close')
  raw.resume()
  const relayed = sent - 1 - more.length
  for (let i = 0; i < relayed; i++) await slow.expect('rtc:sdp')
  t.same(await slow.sync(), [], `every frame that was not refused arrives once it reads again (${relayed})`)
  fast.send('rtc:candidate', { for: slow.id, candidate: null })
  t.same(await slow.expect('rtc:candidate'), { from: fast.id, candidate: null }, 'relay goes on')
})

test('a reader over maxBufferedBytes for slowReaderTimeout is dropped; its peers get rtc:close', async (t) => {
  const { app, url } = await listen(t, { privatePools: false, rateLimit: false, maxBufferedBytes: 256 * 1024, slowReaderTimeout: 300 })
  const [fast, slow, watcher] = await joinAll(url, 'slow', 3)
  const raw = pause(slow)
  await blast(fast, slow.id) // relayed frames fill its queue up to the limit, never over it
  t.match(await fast.expect('rtc:error'), { reason: 'peer-busy' })
  // frames the server sends are always queued: this one takes the queue over the limit, and it stays over
  await app.rtcPools.send(slow.id, 'pad', { pad: 'x'.repeat(64 * 1024) })
  t.same(await watcher.expect('rtc:close', 10_000), { id: slow.id, uid: slow.id })
  raw.resume()
  t.equal((await slow.closed).code, 1006, 'terminated: a close frame would wait behind the backlog')
  await watcher.sync() // a round trip: the server has seen its side of the socket close
  t.equal(app.rtcPools.endpoint(slow.id), undefined, 'the server let go of it')
  t.equal(fast.ws.readyState, 1, 'the sender is unaffected')
})

test('a newcomer in a pool of 32 gets 31 offers of 15 KB and their candidates in one burst: no peer-busy', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const members = await joinAll(url, 'mesh', 32)
  const newcomer = members.pop() as Client
  const raw = pause(newcomer) // its page is busy making 31 peer connections: it reads nothing during the burst
  const description = { type: 'offer', sdp: 'a='.padEnd(15_000, 'x') }
  for (const m of members) {
    m.send('rtc:sdp', { to: newcomer.id, description })
    for (let i = 0; i < 10; i++) {
      m.send('rtc:candidate', { for: newcomer.id, candidate: { candidate: `candidate:${i} 1 udp 2122260223 192.0.2.${i} 5000${i} typ host generation 0 ufrag abcd network-id 1`, sdpMid: '0', sdpMLineIndex: 0 } })
    }
  }
  const refused = (await Promise.all(members.map(async (m) => await m.sync()))).flat()
  t.same(refused, [], 'no sender got an error')
  raw.resume()
  const got = { 'rtc:sdp': 0, 'rtc:candidate': 0 }
  for (let i = 0; i < 31 * 11; i++) got[(await newcomer.next()).type as keyof typeof got]++
  t.same(got, { 'rtc:sdp': 31, 'rtc:candidate': 310 })
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
  const { stream, lines } = logCapture()
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
  const { stream, lines } = logCapture()
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
  const { stream, lines } = logCapture()
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

/** The core behind a plain ws server on loopback (real sockets), on a fake clock; returns the ws:// base URL. */
async function coreOverSockets (t: Tap, opts: RtcSignalOptions, clock: FakeClock): Promise<string> {
  const core = createCore(normalizeOptions(opts), silent, { clock })
  await core.start()
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await once(wss, 'listening')
  wss.on('connection', (socket) => { core.connect(socket, { log: silent, query: {}, headers: {} } as unknown as ConnectionRequest, null) })
  t.teardown(async () => {
    await core.closeAll()
    await core.dispose()
    await new Promise((resolve) => wss.close(resolve))
  })
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}`
}

type Outcome = 'relayed' | 'refused' | 'closed'

/** Sends one candidate from `a` to `b` at clock time `at` and waits for what became of it. */
async function candidateAt (clock: FakeClock, at: number, a: Client, b: Client): Promise<Outcome> {
  if (a.ws.readyState !== 1) return 'closed'
  clock.advance(at - clock.time)
  const arrived = new Promise<void>((resolve) => {
    const done = (): void => {
      for (const [ws, event] of [[a.ws, 'message'], [b.ws, 'message'], [a.ws, 'close']] as const) ws.off(event, done)
      resolve()
    }
    for (const [ws, event] of [[a.ws, 'message'], [b.ws, 'message'], [a.ws, 'close']] as const) ws.on(event, done)
  })
  a.send('rtc:candidate', { for: b.id, candidate: { at } })
  await arrived
  if (!b.idle) return (await b.expect('rtc:candidate')).candidate.at === at ? 'relayed' : 'closed'
  if (!a.idle) {
    const error = await a.expect('rtc:error')
    if (error.reason === 'rate-limited') return 'refused'
  }
  return 'closed'
}

/** A sender `a` and a receiver `b` in one pool, on a fake clock at 0, limited to 10 frames per 1,200 ms; a's join took its first token. */
async function rateLimitedPair (t: Tap): Promise<{ clock: FakeClock, a: Client, b: Client }> {
  const clock = new FakeClock()
  const url = await coreOverSockets(t, { privatePools: false, rateLimit: { max: 10, timeWindow: 1200 } }, clock)
  const b = await Client.open(url)
  await b.join('r')
  const a = await Client.open(url)
  await a.join('r') // at time 0: its bucket started full (10 tokens)
  await b.expect('rtc:peer')
  return { clock, a, b }
}

test('rate limit on a fake clock: a steady 1.2x sender is never closed and gets exactly the limit through', async (t) => {
  // 10 frames per 1,200 ms: one token every 120 ms. The sender sends one frame every 100 ms (1.2x).
  const { clock, a, b } = await rateLimitedPair(t)
  const count: Record<Outcome, number> = { relayed: 0, refused: 0, closed: 0 }
  for (let at = 100; at <= 12_000; at += 100) count[await candidateAt(clock, at, a, b)]++
  // 12 s = 10 windows: the initial 10 tokens and 10 × 10 refilled, one of them spent on the join
  t.same(count, { relayed: 10 + 100 - 1, refused: 120 - 109, closed: 0 })
  t.equal(a.ws.readyState, 1, 'still open')
})

test('rate limit on a fake clock: a steady 2x sender is closed with 1008 within a few windows', async (t) => {
  const { clock, a, b } = await rateLimitedPair(t)
  const count: Record<Outcome, number> = { relayed: 0, refused: 0, closed: 0 }
  let at = 0
  while (count.closed === 0 && at < 12_000) count[await candidateAt(clock, at += 60, a, b)]++
  t.same(await a.closed, { code: 1008, reason: 'rate limit exceeded' })
  // the bucket runs dry after about one window; refusals then outpace their drain (half the refill) by
  // one every 240 ms: the tenth net refusal comes about 2.4 s later
  t.ok(at <= 4 * 1200, `closed at ${at} ms, within 4 windows`)
  t.ok(count.refused >= 10, `${count.refused} refusals first`)
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id }, 'its peers are told')
})
