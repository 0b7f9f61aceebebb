import { test } from 'tap'
import { build, buildInContext, Client } from './helpers'

test('the client bundles are served from memory with ETag, cache headers and 304', async (t) => {
  const app = await build(t, { privatePools: false })
  for (const file of ['client.js', 'client.mjs']) {
    const res = await app.inject(`/rtc/${file}`)
    t.equal(res.statusCode, 200, file)
    t.match(res.headers['content-type'], /javascript/)
    t.match(res.headers['cache-control'], /max-age/)
    t.ok(res.body.length > 1000)
    const again = await app.inject({ url: `/rtc/${file}`, headers: { 'if-none-match': res.headers.etag as string } })
    t.equal(again.statusCode, 304)
    t.equal(again.body, '')
  }
  t.match((await app.inject('/rtc/client.js')).body, /RtcSignal/, 'the classic script defines one global')
  t.equal((await app.inject('/lobby')).statusCode, 404, 'no demo unless asked for')
})

test('demo: true serves the page at / and /:pool, beside the signalling at the prefix', async (t) => {
  const app = await build(t, { privatePools: false, demo: true, prefix: '/signal' })
  for (const url of ['/', '/lobby', '/any-name_1']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /text\/html/)
    t.match(res.body, /\/signal/, 'the page is told where the signalling is')
    t.notMatch(res.body, /https?:\/\/(?!localhost)[a-z]/i, 'no file from another host')
  }
  t.equal((await app.inject('/signal/client.js')).statusCode, 200)
  t.equal((await app.inject('/signal')).statusCode, 426, 'the WebSocket route is not shadowed by the page')
})

test('demo: true in a prefixed context: the page, its assets and its socket URL carry both prefixes', async (t) => {
  const { app, child: api } = await buildInContext(t, '/api', { demo: true, privatePools: false })
  for (const url of ['/api', '/api/', '/api/lobby']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, url)
    t.match(res.body, /<meta name="rtc-signal-prefix" content="\/api\/rtc">/, 'the socket URL')
    t.match(res.body, /<meta name="rtc-demo-base" content="\/api">/, 'where the page lives, to read the pool from its path')
    const assets = [...res.body.matchAll(/(?:href|src)="(\/[^"]+)"/g)].map((m) => m[1])
    t.same(assets.map((a) => a.replace(/[^/]+$/, '')), ['/api/_rtc-demo/', '/api/_rtc-demo/'], 'the stylesheet and the script')
    for (const asset of assets) t.equal((await app.inject(asset)).statusCode, 200, asset)
  }
  t.equal((await app.inject('/api/rtc')).statusCode, 426, 'the signalling is at /api/rtc')
  t.equal((await app.inject('/api/rtc/client.js')).statusCode, 200)
  const c = new Client(await api.injectWS('/api/rtc/lobby'))
  t.equal((await c.join('lobby')).pool, 'lobby')
  c.ws.terminate()
})
