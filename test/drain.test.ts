import { test } from 'tap'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { Registry } from 'prom-client'
import WebSocket from 'ws'
import Fastify from 'fastify'
import rtcSignal from '../lib/index'
import { Client, listen, type Message } from './helpers'

// Drain on fastify.close(): 1012 after the queued frames for resumable members (suspended), 1001
// for the others, spread over drain.windowMs; 503 with Retry-After for new upgrades meanwhile.

async function member (url: string, pool: string, resume: boolean): Promise<Client> {
  const c = await Client.open(`${url}/rtc`)
  c.send('rtc:join', { pool, resume })
  c.id = (await c.expect('rtc:joined')).client_id
  return c
}

test('fastify.close() drains: queued frames, then 1012 (resumable, suspended) or 1001 (others), 503 + Retry-After meanwhile', async (t) => {
  const registry = new Registry()
  const { app, url } = await listen(t, { privatePools: false, heartbeatInterval: 0, drain: { windowMs: 1000 }, metrics: { registry } })
  const a = await member(url, 'p', true)
  const b = await member(url, 'p', true)
  const c = await member(url, 'p', false)
  await a.expect('rtc:peer')
  await a.expect('rtc:peer')
  await b.expect('rtc:peer')
  const events: string[] = []
  app.rtcPools.on('suspend', ({ id }) => events.push(`suspend ${id === a.id ? 'a' : 'b'}`))
  app.rtcPools.on('leave', ({ endpoint, reason }) => events.push(`leave ${endpoint.id === c.id ? 'c' : endpoint.id === a.id ? 'a' : 'b'} ${reason}`))
  // queued just before the close: each socket gets them before its close frame
  for (let i = 0; i < 50; i++) await app.rtcPools.broadcast('p', 'note', { i })
  const firstSuspended = app.rtcPools.once('suspend')
  const closing = app.close()
  await firstSuspended
  const gauge = await registry.getSingleMetric('rtc_signal_draining')?.get()
  t.equal(gauge?.values[0].value, 1, 'draining gauge is 1 while draining')
  t.equal(c.ws.readyState, WebSocket.OPEN, 'the closes are spread: the last socket is still open when the first is closed')

  const refused = new WebSocket(`${url}/rtc`)
  refused.on('error', () => {})
  const [, res] = await once(refused, 'unexpected-response')
  t.equal(res.statusCode, 503, 'a new upgrade is refused while draining')
  t.equal(res.headers['retry-after'], '5')
  let body = ''
  for await (const chunk of res) body += chunk
  t.match(JSON.parse(body), { statusCode: 503, code: 'FST_RTC_DRAINING' })

  for (const [client, code] of [[a, 1012], [b, 1012], [c, 1001]] as const) {
    const closed = await client.closed
    t.equal(closed.code, code)
    const notes = client.received.filter((m: Message) => m.type === 'note').map((m) => m.data.i)
    t.same(notes, Array.from({ length: 50 }, (_, i) => i), 'every queued frame arrived first, in order')
  }
  await closing
  t.same(events.slice(0, 3), ['suspend a', 'suspend b', 'leave c shutdown'], 'resumable members are suspended, the others leave')
  t.same(events.slice(3).sort(), ['leave a shutdown', 'leave b shutdown'], 'with the memory adapter nobody can resume them elsewhere: they leave at the end')
  t.same(app.rtcPools.stats(), { connections: 0, pools: 0 })
})

test('drain.deadlineMs: fastify.close() goes on when a socket never finishes its closing handshake', async (t) => {
  const { app, url } = await listen(t, { privatePools: false, heartbeatInterval: 0, drain: { windowMs: 0, deadlineMs: 200 } })
  const stuck = await member(url, 'p', true)
  // the client stops reading: it never sees the close frame, so never answers it
  ;(stuck.ws as unknown as { _socket: Socket })._socket.pause()
  const leave = app.rtcPools.once('leave')
  await app.close()
  t.match(await leave, { reason: 'shutdown' })
  t.same(app.rtcPools.stats(), { connections: 0, pools: 0 }, 'the stuck socket was terminated at the deadline')
  ;(stuck.ws as unknown as { _socket: Socket })._socket.resume()
  await stuck.closed
})

test('drain.deadlineMs must leave a second of Fastify\'s pluginTimeout, which bounds app.close()\'s hooks too', async (t) => {
  const tight = Fastify({ pluginTimeout: 5000 })
  t.teardown(() => tight.close())
  await t.rejects(async () => {
    await tight.register(rtcSignal, { privatePools: false }) // the default deadline, 8 s
    await tight.ready()
  }, { code: 'FST_RTC_INVALID_OPTION', message: /drain\.deadlineMs.*pluginTimeout \(5000 ms\)/ })
  const fits = Fastify({ pluginTimeout: 5000 })
  t.teardown(() => fits.close())
  await fits.register(rtcSignal, { privatePools: false, drain: { deadlineMs: 4000 } })
  await fits.ready()
  const unbounded = Fastify({ pluginTimeout: 0 })
  t.teardown(() => unbounded.close())
  await unbounded.register(rtcSignal, { privatePools: false, drain: { deadlineMs: 60_000 } })
  await unbounded.ready()
  t.pass('no pluginTimeout, any deadline')
})
