// What the plugin answers over HTTP, before any WebSocket exists.
import { test } from 'tap'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import WebSocket from 'ws'
import { build, Client, listen, refusedStatus } from './helpers'

test('path-bound pools: every name valid in rtc:join works in the URL', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const names = ['x'.repeat(101), 'x'.repeat(128), 'é'.repeat(128), '😀'.repeat(64), 'café ☕ 日本', 'a/b', 'q?h#p%20+&']
  for (const name of names) {
    const bound = await Client.open(`${url}/rtc/${encodeURIComponent(name)}`)
    bound.send('rtc:join', {})
    const joined = await bound.expect('rtc:joined')
    t.equal(joined.pool, name, `in the URL: ${name.slice(0, 12)} (${name.length})`)
    const free = await Client.open(`${url}/rtc`)
    t.same((await free.join(name)).peers, [joined.client_id], 'the same pool by rtc:join')
    bound.close()
    free.close()
  }
  t.equal(await refusedStatus(`${url}/rtc/${'x'.repeat(129)}`), 400, 'one character too many: 400')
  t.equal(await refusedStatus(`${url}/rtc/a/b`), 404, 'a further / in the path: 404')
  t.equal(await refusedStatus(`${url}/rtc/a/`), 404)
})

test('a plain GET on a WebSocket route is 426 Upgrade Required, with Upgrade: websocket', async (t) => {
  const app = await build(t, { privatePools: false })
  for (const url of ['/rtc', '/rtc/', '/rtc/lobby', `/rtc/${'x'.repeat(128)}`]) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 426, url)
    t.equal(res.headers.upgrade, 'websocket')
    t.match(res.headers['content-type'], /^application\/json/)
    t.notMatch(res.body, /\n/, 'one line')
    t.same(Object.keys(res.json()), ['statusCode', 'code', 'error', 'message'])
    t.match(res.json(), { statusCode: 426, code: 'FST_RTC_UPGRADE_REQUIRED', error: 'Upgrade Required', message: /WebSocket/ })
  }
  t.equal((await app.inject({ method: 'HEAD', url: '/rtc/lobby' })).statusCode, 426, 'HEAD too')
})

test('private server: {prefix}/<pool> for a pool nobody created is 404 before the upgrade', async (t) => {
  const { app, url } = await listen(t, {
    routeOptions: {
      onRequest: async (request, reply) => {
        if ((request.query as Record<string, string>).token !== 'ok') await reply.code(401).send({ error: 'Unauthorized' })
      }
    }
  })
  t.equal(await refusedStatus(`${url}/rtc/room`), 401, 'auth first: no probing for pool names')
  t.equal(await refusedStatus(`${url}/rtc/room?token=ok`), 404)
  const res = await app.inject('/rtc/room?token=ok')
  t.equal(res.statusCode, 404, 'a plain GET too')
  t.match(res.json(), { statusCode: 404, code: 'FST_RTC_NO_SUCH_POOL', message: /createPool.*privatePools: false/ })
  await app.rtcPools.createPool('room')
  const c = await Client.open(`${url}/rtc/room?token=ok`)
  t.equal((await c.join('room')).pool, 'room', 'once created, it opens')
  const free = await Client.open(`${url}/rtc?token=ok`)
  free.send('rtc:join', { pool: 'other' })
  t.match(await free.expect('rtc:error'), { reason: 'no-such-pool' }, 'the unbound route still opens; the join is refused')
})

test('no URL under the prefix is logged with its query string, whatever the status', async (t) => {
  let logs = ''
  const stream = new Writable({ write (chunk, _enc, cb) { logs += chunk.toString(); cb() } })
  const { app, url } = await listen(t, {
    privatePools: false,
    routeOptions: { onRequest: async (request) => { if ('boom' in (request.query as object)) throw new Error('boom') } }
  }, { logger: { level: 'trace', stream } })
  t.equal((await app.inject('/rtc/a/b?token=SECRET-1')).statusCode, 404)
  t.equal((await app.inject('/rtc/lobby?boom&token=SECRET-0')).statusCode, 500, 'an error is logged with its request')
  t.equal((await app.inject({ method: 'POST', url: '/rtc?token=SECRET-2' })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: '/rtc/x/y/z?token=SECRET-3' })).statusCode, 404)
  t.equal((await app.inject('/rtc/lobby?token=SECRET-4')).statusCode, 426)
  t.equal((await app.inject({ method: 'HEAD', url: '/rtc/lobby?token=SECRET-5' })).statusCode, 426)
  // an upgrade to the client bundle: not a WebSocket route
  const ws = new WebSocket(`${url}/rtc/client.js?token=SECRET-6`)
  ws.on('error', () => {})
  const [, res] = await once(ws, 'unexpected-response')
  t.equal(res.statusCode, 404, 'is refused')
  ws.terminate()
  const c = await Client.open(`${url}/rtc/lobby?token=SECRET-7`)
  await c.join('lobby')
  t.match(logs, /"url":"\/rtc\/a\/b"/, 'the 404 is logged, without its query')
  t.match(logs, /"level":50,.*"url":"\/rtc\/lobby"/, 'so is the 500')
  t.notMatch(logs, /SECRET/, 'no token reached the logs')
  t.notMatch(logs, /token=/)
})
