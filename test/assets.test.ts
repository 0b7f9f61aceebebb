import { test } from 'tap'
import { build } from './helpers'

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
