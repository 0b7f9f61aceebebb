import { test } from 'tap'
import { Writable } from 'node:stream'
import { Client, joinAll, listen } from './helpers'

test('pools of 2 to 10 members: join, relay between every pair, describe, leave, stop', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  for (let n = 2; n <= 10; n++) {
    const pool = `size-${n}`
    const clients = await joinAll(url, pool, n)
    // each member saw exactly the members before it in rtc:joined, in join order
    clients.forEach((c, i) => t.same(c.peers, clients.slice(0, i).map((p) => p.id)))
    // relay between every ordered pair
    for (const from of clients) {
      for (const to of clients) if (to !== from) from.send('rtc:candidate', { for: to.id, candidate: { candidate: from.id } })
    }
    for (const to of clients) {
      const senders = new Set<string>()
      for (let i = 0; i < n - 1; i++) {
        const d = await to.expect('rtc:candidate')
        t.equal(d.candidate.candidate, d.from, 'payload came from the named sender')
        senders.add(d.from)
      }
      t.equal(senders.size, n - 1)
    }
    // a description set by server code reaches everyone else
    await app.rtcPools.describe(clients[0].id, { role: 'host' })
    for (const c of clients.slice(1)) t.same(await c.expect('rtc:describe'), { id: clients[0].id, uid: clients[0].id, description: { role: 'host' } })
    // the last one leaves: one rtc:close each
    const last = clients.pop() as Client
    last.close()
    for (const c of clients) t.same(await c.expect('rtc:close'), { id: last.id, uid: last.id })
    // server code closes the pool: rtc:stop, then the socket closes
    await app.rtcPools.closePool(pool)
    for (const c of clients) {
      t.same(await c.expect('rtc:stop'), {})
      t.equal((await c.closed).code, 1000)
    }
    t.equal(await app.rtcPools.get(pool), null)
  }
  t.same(await app.rtcPools.list(), [])
})

test('cross-pool isolation: no id from another pool can be reached', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const [a1, a2] = await joinAll(url, 'A', 2)
  const [b1, b2] = await joinAll(url, 'B', 2)
  const outsider = await Client.open(`${url}/rtc`)
  for (const target of [b1, b2]) {
    a1.send('rtc:sdp', { to: target.id, description: { type: 'offer', sdp: 'x' } })
    t.match(await a1.expect('rtc:error'), { reason: 'unknown-peer', to: target.id })
    a1.send('rtc:candidate', { for: target.id, candidate: null })
    t.match(await a1.expect('rtc:error'), { reason: 'unknown-peer', to: target.id })
  }
  outsider.send('rtc:sdp', { to: a1.id, description: { type: 'offer', sdp: 'x' } })
  t.match(await outsider.expect('rtc:error'), { reason: 'not-joined' })
  a2.close()
  await a1.expect('rtc:close')
  for (const c of [b1, b2]) t.same(await c.sync(), [], 'pool B heard nothing of pool A')
})

test('private server: only pools that server code created can be joined; they outlive their members', async (t) => {
  const { app, url } = await listen(t)
  const c = await Client.open(`${url}/rtc`)
  c.send('rtc:join', { pool: 'room' })
  t.match(await c.expect('rtc:error'), { reason: 'no-such-pool', pool: 'room' })
  const info = await app.rtcPools.createPool('room', { maxMembers: 3 })
  t.same(info, { name: 'room', maxMembers: 3, persistent: true, members: [] })
  await t.rejects(app.rtcPools.createPool('room'), { code: 'FST_RTC_POOL_EXISTS', statusCode: 409 })
  await c.join('room')
  c.close()
  await c.closed
  const d = await Client.open(`${url}/rtc`)
  await d.join('room')
  t.match(await app.rtcPools.get('room'), { name: 'room', maxMembers: 3, members: [{ id: d.id, description: null }] })
})

test('public server: a pool is created on first join and removed with its last member', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  const events: string[] = []
  app.rtcPools.on('pool-created', ({ pool }) => { events.push(`created ${pool}`) })
  app.rtcPools.on('pool-closed', ({ pool, reason }) => { events.push(`closed ${pool} ${reason}`) })
  app.rtcPools.on('join', ({ pool }) => { events.push(`join ${pool}`) })
  app.rtcPools.on('leave', ({ pool, reason }) => { events.push(`leave ${pool} ${reason}`) })
  const [a] = await joinAll(url, 'tmp', 1)
  t.equal((await app.rtcPools.list()).length, 1)
  a.close()
  await a.closed
  while (events.length < 4) await new Promise((resolve) => app.rtcPools.on('pool-closed', resolve))
  t.same(events, ['created tmp', 'join tmp', 'leave tmp closed', 'closed tmp empty'])
  t.same(await app.rtcPools.list(), [])
})

test('pool rules: member limit and allows()', async (t) => {
  const { app, url } = await listen(t, { maxMembers: 2 })
  await app.rtcPools.createPool('vip', { allows: (endpoint) => (endpoint.request.query as Record<string, string>).vip === 'yes' })
  const no = await Client.open(`${url}/rtc`)
  no.send('rtc:join', { pool: 'vip' })
  t.match(await no.expect('rtc:error'), { reason: 'join-denied', pool: 'vip' })
  const yes = await Client.open(`${url}/rtc?vip=yes`)
  await yes.join('vip')
  await app.rtcPools.createPool('duo')
  await joinAll(url, 'duo', 2)
  const third = await Client.open(`${url}/rtc`)
  third.send('rtc:join', { pool: 'duo' })
  t.match(await third.expect('rtc:error'), { reason: 'pool-full', pool: 'duo' }, 'default maxMembers applies')
  await app.rtcPools.createPool('thrower', { allows: () => { throw new Error('boom') } })
  third.send('rtc:join', { pool: 'thrower' })
  t.match(await third.expect('rtc:error'), { reason: 'join-denied' }, 'a rule that throws refuses')
})

test('PoolManager API: describe before join, kick, send, broadcast, application events, coded errors', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  const pools = app.rtcPools
  const seen: Array<[string, string, unknown]> = []
  pools.on('event', ({ endpoint, type, data }) => { seen.push([endpoint.id, type, data]) })
  pools.on('event', () => { throw new Error('a listener that throws is logged, not fatal') })
  pools.on('event', async () => { throw new Error('so is one that rejects') })

  const early = await Client.open(`${url}/rtc`)
  early.send('hello', { n: 1 })
  const [a, b] = await joinAll(url, 'api', 2)
  await early.sync()
  const earlyId = seen[0][0]
  t.same(seen[0].slice(1), ['hello', { n: 1 }], 'application event before joining')
  await pools.describe(earlyId, { name: 'Early' })
  const j = await early.join('api')
  t.same(j.descriptions[j.client_id], { name: 'Early' }, 'describe before join sets the joining description')
  t.same(await a.expect('rtc:peer'), { id: j.client_id, description: { name: 'Early' } })
  await a.expect('rtc:describe')
  await b.expect('rtc:peer')
  await b.expect('rtc:describe')

  a.send('chat', { text: 'hi' })
  await a.sync()
  t.same(seen.at(-1), [a.id, 'chat', { text: 'hi' }])

  await pools.send(b.id, 'private', { secret: 1 })
  t.same(await b.next(), { type: 'private', data: { secret: 1 } })
  await pools.broadcast('api', 'news', { v: 2 }, { except: a.id })
  t.same(await b.next(), { type: 'news', data: { v: 2 } })
  t.same(await early.next(), { type: 'news', data: { v: 2 } })
  t.same(await a.sync(), [], 'except is respected')

  await pools.kick(b.id, 'bye')
  t.same(await b.closed, { code: 1008, reason: 'bye' })
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
  t.same(await early.expect('rtc:close'), { id: b.id, uid: b.id })

  await t.rejects(pools.kick('nobody'), { code: 'FST_RTC_NO_SUCH_PEER', statusCode: 404 })
  await t.rejects(pools.describe('nobody', {}), { code: 'FST_RTC_NO_SUCH_PEER' })
  await t.rejects(pools.send('nobody', 'x', {}), { code: 'FST_RTC_NO_SUCH_PEER' })
  await t.rejects(pools.send(a.id, 'rtc:joined', {}), { code: 'FST_RTC_INVALID_EVENT' })
  await t.rejects(pools.send(a.id, '', {}), { code: 'FST_RTC_INVALID_EVENT' })
  await t.rejects(pools.send(a.id, 'x', [1] as unknown as object), { code: 'FST_RTC_INVALID_EVENT' })
  await t.rejects(pools.describe(a.id, () => 1), { code: 'FST_RTC_INVALID_DESCRIPTION' })
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  await t.rejects(pools.describe(a.id, cyclic), { code: 'FST_RTC_INVALID_DESCRIPTION' })
  await t.rejects(pools.broadcast('none', 'x', {}), { code: 'FST_RTC_NO_SUCH_POOL' })
  await t.rejects(pools.closePool('none'), { code: 'FST_RTC_NO_SUCH_POOL' })
  await t.rejects(pools.createPool(''), { code: 'FST_RTC_INVALID_POOL_NAME' })
  await t.rejects(pools.createPool('x', { maxMembers: 0 }), { code: 'FST_RTC_INVALID_OPTION' })
  t.same(await a.sync(), [], 'failed calls sent nothing')
  t.equal(pools.endpoint(a.id)?.pool, 'api')
  t.same(pools.stats(), { connections: 2, pools: 1 })
})

test('kick with a reason over 123 bytes: cut to 123 bytes of whole characters, and the member still goes', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  const [a, b, c] = await joinAll(url, 'kick', 3)
  await app.rtcPools.kick(b.id, 'é'.repeat(100)) // 200 bytes in UTF-8
  t.same(await b.closed, { code: 1008, reason: 'é'.repeat(61) }, '122 bytes: the 62nd é would not fit whole')
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
  await app.rtcPools.kick(c.id, 'x'.repeat(500))
  t.same(await c.closed, { code: 1008, reason: 'x'.repeat(123) })
  t.same(await a.expect('rtc:close'), { id: c.id, uid: c.id })
  t.same((await app.rtcPools.get('kick'))?.members.map((m) => m.id), [a.id])
})

test('private server: a join to a pool nobody created is logged at info once per name, for at most 1,000 names', async (t) => {
  const lines: Array<{ level: number, msg: string, pool?: string }> = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
  const { url } = await listen(t, { privatePools: true, rateLimit: false }, { logger: { level: 'info', stream } })
  const hints = (): Array<{ level: number, msg: string, pool?: string }> => lines.filter((l) => /createPool/.test(l.msg))
  const c = await Client.open(`${url}/rtc`)
  for (const pool of ['ghost', 'ghost', 'other', 'ghost']) {
    c.send('rtc:join', { pool })
    t.match(await c.expect('rtc:error'), { reason: 'no-such-pool', pool })
  }
  t.same(hints().map((l) => [l.level, l.pool]), [[30, 'ghost'], [30, 'other']], 'once per pool name, at info')
  t.match(hints()[0].msg, /rtcPools\.createPool.*privatePools: false/)
  for (const pool of [...Array.from({ length: 1100 }, (_, i) => `n${i}`), 'ghost']) {
    c.send('rtc:join', { pool })
    await c.expect('rtc:error') // one at a time: a join sent while one is in progress is already-joined
  }
  t.equal(hints().filter((l) => l.pool !== undefined).length, 1000, 'at most 1,000 names are remembered and logged')
  t.equal(lines.filter((l) => /no more are logged/.test(l.msg)).length, 1, 'and it says when it stops')
})

test('maxDescriptionBytes: describe() with a larger description throws FST_RTC_DESCRIPTION_TOO_LARGE (413)', async (t) => {
  const { app, url } = await listen(t, { privatePools: false, maxDescriptionBytes: 1000 })
  const [a, b] = await joinAll(url, 'd', 2)
  const early = await Client.open(`${url}/rtc`)
  early.send('hello')
  const { endpoint } = await app.rtcPools.once('event')
  const big = { name: 'x'.repeat(1000) }
  for (const id of [a.id, endpoint.id]) {
    await t.rejects(app.rtcPools.describe(id, big), { code: 'FST_RTC_DESCRIPTION_TOO_LARGE', statusCode: 413 })
  }
  await t.rejects(app.rtcPools.describe(a.id, '€'.repeat(333)), { code: 'FST_RTC_DESCRIPTION_TOO_LARGE' }, '1,001 bytes of UTF-8 in 335 characters')
  t.same(await b.sync(), [], 'no rtc:describe went out')
  await app.rtcPools.describe(a.id, { name: 'x'.repeat(989) }) // {"name":"..."}: 11 + 989 = 1,000 bytes
  t.equal((await b.expect('rtc:describe')).description.name.length, 989)
  t.same((await early.join('d')).descriptions[early.id], null, 'the refused description was not kept for the join')
})
