import { test } from 'tap'
import { Writable } from 'node:stream'
import { Client, joinAll, listen, refusedStatus } from './helpers'

test('route hooks answer 401 before the upgrade, and see the pool in the path', async (t) => {
  const seen: string[] = []
  const { url } = await listen(t, {
    privatePools: false,
    routeOptions: {
      onRequest: async (request, reply) => {
        const params = request.params as { pool?: string }
        seen.push(params.pool ?? '(none)')
        if ((request.query as Record<string, string>).token !== 'secret') {
          await reply.code(401).send({ error: 'Unauthorized' })
        }
      }
    }
  })
  t.equal(await refusedStatus(`${url}/rtc?token=wrong`), 401)
  t.equal(await refusedStatus(`${url}/rtc/room-1`), 401)
  const ok = await Client.open(`${url}/rtc/room-1?token=secret`)
  await ok.join('room-1')
  t.same(seen, ['(none)', 'room-1', 'room-1'])
})

test('preValidation and preHandler route hooks refuse too', async (t) => {
  for (const hook of ['preValidation', 'preHandler'] as const) {
    const { url } = await listen(t, {
      privatePools: false,
      routeOptions: { [hook]: async () => { throw Object.assign(new Error('nope'), { statusCode: 403 }) } }
    })
    t.equal(await refusedStatus(`${url}/rtc`), 403, hook)
    t.equal(await refusedStatus(`${url}/rtc/x`), 403, hook)
  }
})

test('allowedOrigins is checked before the upgrade', async (t) => {
  const { url } = await listen(t, { privatePools: false, allowedOrigins: ['https://app.example'] })
  t.equal(await refusedStatus(`${url}/rtc`, { origin: 'https://evil.example' }), 403)
  const good = await Client.open(`${url}/rtc`, { headers: { origin: 'https://app.example' } })
  await good.join('x')
  const noOrigin = await Client.open(`${url}/rtc`)
  await noOrigin.join('x')
  t.pass('an allowed origin and a non-browser client (no Origin) connect')
})

test('an over-long pool in the path is 400 before the upgrade', async (t) => {
  const { url } = await listen(t, { privatePools: false, maxPoolNameLength: 4 })
  t.equal(await refusedStatus(`${url}/rtc/toolong`), 400)
})

test('a connection bound to a pool by its path cannot join another', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const c = await Client.open(`${url}/rtc/blue`)
  c.send('rtc:join', { pool: 'red' })
  t.match(await c.expect('rtc:error'), { reason: 'join-denied', pool: 'red' })
  const joined = await c.join('blue')
  t.equal(joined.pool, 'blue')
  const d = await Client.open(`${url}/rtc/blue`)
  d.send('rtc:join', {})
  t.match(await d.expect('rtc:joined'), { pool: 'blue', peers: [c.id] }, 'rtc:join without a pool joins the bound one')
})

test('join hook: refuse with false, refuse by throwing (its message), map the pool, set the description', async (t) => {
  const { url } = await listen(t, {
    privatePools: false,
    joinHook: async (request, { pool, endpoint }) => {
      const q = request.query as Record<string, string>
      if (q.ban === '1') return false
      if (q.ban === '2') throw new Error('Banned from ' + pool)
      t.type(endpoint.id, 'string')
      return { pool: 'tenant-a:' + pool, description: { name: q.name ?? 'anon' } }
    }
  })
  const banned = await Client.open(`${url}/rtc?ban=1`)
  banned.send('rtc:join', { pool: 'lobby' })
  t.match(await banned.expect('rtc:error'), { reason: 'join-denied', pool: 'lobby' })
  const thrown = await Client.open(`${url}/rtc?ban=2`)
  thrown.send('rtc:join', { pool: 'lobby' })
  t.match(await thrown.expect('rtc:error'), { reason: 'join-denied', message: 'Banned from lobby' })

  const ada = await Client.open(`${url}/rtc?name=Ada`)
  const j1 = await ada.join('lobby')
  t.equal(j1.pool, 'tenant-a:lobby', 'rtc:joined names the pool actually joined')
  t.same(j1.descriptions, { [ada.id]: { name: 'Ada' } }, 'own description in rtc:joined')

  const bob = await Client.open(`${url}/rtc?name=Bob`)
  const j2 = await bob.join('lobby')
  t.same(j2.peers, [ada.id])
  t.same(j2.descriptions, { [ada.id]: { name: 'Ada' }, [bob.id]: { name: 'Bob' } })
  t.same(await ada.expect('rtc:peer'), { id: bob.id, description: { name: 'Bob' } })
  t.same(await ada.expect('rtc:describe'), { id: bob.id, uid: bob.id, description: { name: 'Bob' } }, 'rtcpool 3.x reads it from rtc:describe')
  t.same(await bob.sync(), [], 'the member described is not sent its own rtc:describe')
  t.equal(banned.ws.readyState, 1, 'a refused connection stays open')
})

test('join hook that fails strangely refuses the join and the server goes on', async (t) => {
  const { url } = await listen(t, {
    privatePools: false,
    joinHook: async (request) => {
      const q = request.query as Record<string, string>
      if (q.mode === 'badpool') return { pool: '' }
      if (q.mode === 'baddesc') return { description: { n: 1n } }
      // eslint-disable-next-line no-throw-literal
      if (q.mode === 'literal') throw 'not an error'
      return true
    }
  })
  for (const mode of ['badpool', 'baddesc', 'literal']) {
    const c = await Client.open(`${url}/rtc?mode=${mode}`)
    c.send('rtc:join', { pool: 'p' })
    t.match(await c.expect('rtc:error'), { reason: 'join-denied' }, mode)
  }
  const [a] = await joinAll(url, 'p', 1)
  t.ok(a.id, 'others still join')
})

test('a token in the query string never reaches the logs', async (t) => {
  let logs = ''
  const stream = new Writable({ write (chunk, _enc, cb) { logs += chunk.toString(); cb() } })
  const { url } = await listen(t, {
    privatePools: false,
    joinHook: async (request) => (request.query as Record<string, string>).token === 'tok-5ec7e7' ? undefined : false
  }, { logger: { level: 'debug', stream } })
  const c = await Client.open(`${url}/rtc?token=tok-5ec7e7`)
  await c.join('p')
  c.send('rtc:nonsense')
  await c.expect('rtc:error')
  c.close()
  await c.closed
  t.match(logs, /rtc: joined/, 'the join is logged')
  t.notMatch(logs, /tok-5ec7e7/, 'the token is not')
})

test('joinHookTimeout: a hook that never answers is join-denied; its late answer is ignored; a retry works', async (t) => {
  let release!: (result: { pool: string }) => void
  let calls = 0
  const { app, url } = await listen(t, {
    privatePools: false,
    joinHookTimeout: 200,
    joinHook: async () => {
      if (++calls === 1) return await new Promise<{ pool: string }>((resolve) => { release = resolve })
      return true
    }
  })
  const c = await Client.open(`${url}/rtc`)
  c.send('rtc:join', { pool: 'room' })
  c.send('rtc:join', { pool: 'room' })
  t.match(await c.expect('rtc:error'), { reason: 'already-joined', message: /join is in progress/ }, 'a second join while the hook runs')
  t.match(await c.expect('rtc:error'), { reason: 'join-denied', pool: 'room', message: 'the join hook did not answer within 200 ms' })
  const joined = await c.join('room')
  t.equal(joined.pool, 'room', 'a retry on the same socket works')
  release({ pool: 'elsewhere' })
  t.same(await c.sync(), [], 'the late answer does nothing')
  t.same((await app.rtcPools.list()).map((p) => [p.name, p.members.map((m) => m.id)]), [['room', [c.id]]])
})

test('maxDescriptionBytes: a join hook that sets a larger description is join-denied and logged at error', async (t) => {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
  const { url } = await listen(t, {
    privatePools: false,
    maxDescriptionBytes: 4096,
    joinHook: (request) => {
      const { size, char } = request.query as Record<string, string>
      return { description: { n: char.repeat(Number(size)) } } // {"n":"..."}: 8 bytes + the string's UTF-8
    }
  }, { logger: { level: 'info', stream } })
  const fits = await Client.open(`${url}/rtc?size=4088&char=x`)
  t.equal((await fits.join('p')).descriptions[fits.id].n.length, 4088, 'exactly 4,096 bytes is fine')
  for (const [size, char] of [[4089, 'x'], [2045, 'é']] as const) {
    const c = await Client.open(`${url}/rtc?size=${size}&char=${encodeURIComponent(char)}`)
    c.send('rtc:join', { pool: 'p' })
    t.match(await c.expect('rtc:error'), { reason: 'join-denied', pool: 'p' }, `${size} × ${char}: over 4,096 bytes of UTF-8`)
  }
  t.same(await fits.sync(), [], 'nobody was announced')
  const logged = lines.filter((l) => /description/.test(l.msg))
  t.same(logged.map((l) => l.level), [50, 50], 'logged at error: the server set it')
  t.match(logged[0], { msg: /maxDescriptionBytes/ })
})

test('a join hook that refuses by throwing is logged at info with its message, no stack', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
  const { url } = await listen(t, {
    privatePools: false,
    joinHook: async () => { throw new Error('Not your room') }
  }, { logger: { level: 'info', stream } })
  const c = await Client.open(`${url}/rtc`)
  c.send('rtc:join', { pool: 'p' })
  t.match(await c.expect('rtc:error'), { reason: 'join-denied', message: 'Not your room' })
  const refusal = lines.find((line) => line.msg === 'rtc: join refused by the join hook')
  t.match(refusal, { level: 30, message: 'Not your room', pool: 'p' }, 'info, with the message the client got')
  t.notMatch(JSON.stringify(refusal), /stack|:\d+:\d+/, 'no stack: a refusal is not a fault')
  t.notOk(refusal !== undefined && 'err' in refusal, 'no error object')
})
