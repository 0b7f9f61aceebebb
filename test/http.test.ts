// What the plugin answers over HTTP, before any WebSocket exists.
import { test } from 'tap'
import { Client, listen, refusedStatus } from './helpers'

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
