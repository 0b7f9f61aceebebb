import { test } from 'tap'
import { createHook } from 'node:async_hooks'
import { once } from 'node:events'
import { setImmediate as tick } from 'node:timers/promises'
import Fastify from 'fastify'
import WebSocket from 'ws'
import rtcSignal, { MemoryAdapter } from '../lib/index'
import { Client, joinAll, listen } from './helpers'

test('app.close() closes every socket with 1001 and leaves no timer or socket behind', async (t) => {
  // every Timeout created from here on, until it is cleared or fires (unref'd ones too)
  const timers = new Set<number>()
  const hook = createHook({
    init (id, type) { if (type === 'Timeout') timers.add(id) },
    destroy (id) { timers.delete(id) }
  }).enable()
  t.teardown(() => { hook.disable() })
  const app = Fastify()
  await app.register(rtcSignal, { privatePools: false, heartbeatInterval: 1000 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const clients = [...await joinAll(url, 'a', 3), ...await joinAll(url, 'b', 2), await Client.open(`${url}/rtc`)]
  t.ok(timers.size >= 1, 'the heartbeat timer is running')
  await app.close()
  for (const c of clients) t.equal((await c.closed).code, 1001)
  for (let i = 0; i < 5 && timers.size > 0; i++) await tick()
  t.equal(timers.size, 0, 'no timer left, unref\'d or not')
  t.equal(app.server.listening, false, 'the listening socket is closed')
  t.same(app.rtcPools.stats(), { connections: 0, pools: 0 }, 'no endpoint or pool is held')
  await app.close()
  t.pass('close is idempotent')
  await t.rejects(app.rtcPools.createPool('late'), { code: 'FST_RTC_CLOSED' })
})

test('1,000 relayed frames from one sender arrive at one receiver in order', async (t) => {
  const { url } = await listen(t, { privatePools: false, rateLimit: { max: 5000 } })
  const [a, b, c] = await joinAll(url, 'order', 3)
  for (let i = 0; i < 1000; i++) {
    if (i % 2 === 0) a.send('rtc:candidate', { for: b.id, candidate: { seq: i } })
    else a.send('rtc:sdp', { to: b.id, description: { type: 'offer', sdp: String(i) } })
    c.send('rtc:candidate', { for: b.id, candidate: { other: i } })
  }
  let expected = 0
  let fromC = 0
  while (expected < 1000 || fromC < 1000) {
    const m = await b.next()
    if (m.type === 'rtc:candidate' && m.data.from === c.id) {
      t.equal(m.data.candidate.other, fromC++)
      continue
    }
    const seq = m.type === 'rtc:sdp' ? Number(m.data.description.sdp) : m.data.candidate.seq
    if (seq !== expected) t.fail(`frame ${seq} arrived when ${expected} was due`)
    expected++
  }
  t.equal(expected, 1000)
  t.same(await b.sync(), [], 'nothing duplicated')
})

test('a listener that throws never takes the server down', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  app.rtcPools.on('join', () => { throw new Error('listener bug') })
  app.rtcPools.on('leave', async () => { throw new Error('async listener bug') })
  const [a, b] = await joinAll(url, 'x', 2)
  b.close()
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
  a.send('rtc:candidate', { for: a.id, candidate: null })
  t.same(await a.expect('rtc:candidate'), { from: a.id, candidate: null }, 'still relaying')
})

test('an upgrade that completes while the server closes is turned away with 1001', async (t) => {
  // The late upgrade waits in its route hook; the shutdown waits in the adapter's leave: both are
  // released by the test, so the upgrade lands while closeAll runs (before @fastify/websocket stops).
  const late = gate()
  const leaves = gate()
  class HeldLeaves extends MemoryAdapter {
    override async leave (pool: string, id: string): Promise<void> {
      await leaves.promise
      await super.leave(pool, id)
    }
  }
  const { app, url } = await listen(t, {
    privatePools: false,
    adapter: new HeldLeaves(),
    routeOptions: {
      onRequest: async (request) => {
        if ((request.query as Record<string, string>).late !== undefined) {
          late.entered()
          await late.promise
        }
      }
    }
  })
  const [member] = await joinAll(url, 'p', 1)
  const ws = new WebSocket(`${url}/rtc?late`)
  const closed = once(ws, 'close')
  await late.reached
  const shutdown = app.rtcPools.once('leave')
  const closing = app.close()
  t.match(await shutdown, { pool: 'p', reason: 'shutdown' }, 'the server is closing its connections')
  late.release()
  // should the late socket be let in, the shutdown goes on after 5 s (terminating it: 1006), so a failure cannot hang
  const failsafe = setTimeout(leaves.release, 5000)
  const [code, reason] = await closed
  clearTimeout(failsafe)
  t.equal(code, 1001, 'the late socket is closed with 1001 (going away)')
  t.equal(String(reason), 'server shutting down')
  leaves.release()
  t.equal((await member.closed).code, 1001)
  await closing
})

/** A promise the test resolves (`release`), and one that says the code under test got there (`entered`). */
function gate (): { promise: Promise<void>, release: () => void, reached: Promise<void>, entered: () => void } {
  let release!: () => void
  let entered!: () => void
  const promise = new Promise<void>((resolve) => { release = resolve })
  const reached = new Promise<void>((resolve) => { entered = resolve })
  return { promise, release, reached, entered }
}
