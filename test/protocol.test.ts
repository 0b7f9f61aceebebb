import { test } from 'tap'
import { frameValue } from '../lib/protocol'
import { Client, joinAll, listen } from './helpers'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

test('rtc:join answers rtc:joined and tells the others rtc:peer', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const a = await Client.open(`${url}/rtc`)
  const joinedA = await a.join('lobby')
  t.match(joinedA.client_id, UUID, 'server-assigned UUID v4')
  t.same(joinedA.peers, [])
  t.same(joinedA.descriptions, { [a.id]: null })
  t.equal(joinedA.pool, 'lobby')

  const b = await Client.open(`${url}/rtc`)
  const joinedB = await b.join('lobby')
  t.same(joinedB.peers, [a.id], 'peers are the other members')
  t.same(joinedB.descriptions, { [a.id]: null, [b.id]: null })
  t.same(await a.expect('rtc:peer'), { id: b.id, description: null })
  t.notOk(a.ws.readyState !== 1)
})

test('rtc:sdp and rtc:candidate are relayed with the sender id', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const [a, b] = await joinAll(url, 'p', 2)
  const description = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }
  a.send('rtc:sdp', { to: b.id, description })
  t.same(await b.expect('rtc:sdp'), { peer: a.id, description })
  const candidate = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 }
  b.send('rtc:candidate', { for: a.id, candidate })
  t.same(await a.expect('rtc:candidate'), { from: b.id, candidate })
  b.send('rtc:candidate', { for: a.id, candidate: null })
  t.same(await a.expect('rtc:candidate'), { from: b.id, candidate: null }, 'end of gathering relayed as null')
})

/**
 * Frames whose relayed value is easy to get wrong when it is taken from the frame's own text (not
 * serialized again): the value JSON.parse reads (the last of duplicate keys; an escaped key is the
 * same key) must be exactly what is relayed, and nothing around it.
 */
const TRICKY: Array<[string, string]> = [
  ['plain', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"v=0\\r\\n"}}}'],
  ['spaces everywhere', ' { "type" : "rtc:sdp" ,\n "data" :\t{ "to" : "TO" , "description" : { "type" : "offer" , "sdp" : "v=0" } } } '],
  ['duplicate key: the last wins', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"a"},"description":{"type":"answer","sdp":"b"}}}'],
  ['escaped duplicate key after', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"a"},"descr\\u0069ption":{"type":"answer","sdp":"evil","admin":true}}}'],
  ['escaped key before', '{"type":"rtc:sdp","data":{"to":"TO","descr\\u0069ption":{"type":"answer","sdp":"evil"},"description":{"type":"offer","sdp":"a"}}}'],
  ['duplicate data', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"a"}},"data":{"to":"TO","description":{"type":"answer","sdp":"b"}}}'],
  ['escaped data key', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"a"}},"d\\u0061ta":{"to":"TO","description":{"type":"answer","sdp":"b"}}}'],
  ['the key inside a string', '{"type":"rtc:sdp","data":{"to":"TO","note":"\\",\\"description\\":{\\"type\\":\\"answer\\"}","description":{"type":"offer","sdp":"a"}}}'],
  ['quotes, backslashes, brackets in strings', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"\\\\\\"}{][\\\\","x":[1,{"y":"}"},[]],"z":null}}}'],
  ['the key nested deeper', '{"type":"rtc:sdp","data":{"to":"TO","x":{"description":{"type":"answer","sdp":"b"}},"description":{"type":"offer","sdp":"a"}}}'],
  ['escapes of every kind', '{"type":"rtc:sdp","data":{"to":"TO","description":{"type":"offer","sdp":"\\ud800\\u0000\\/\\b\\f\\t é 😀"}}}'],
  ['a candidate', '{"type":"rtc:candidate","data":{"for":"TO","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}}}'],
  ['a null candidate', '{"type":"rtc:candidate","data":{"for":"TO","candidate":null}}'],
  ['a null candidate then a duplicate', '{"type":"rtc:candidate","data":{"for":"TO","candidate":null , "candidate" : {"candidate":"x","n":-1.5e3}}}'],
  ['numbers and literals around', '{"type":"rtc:candidate","n":1e5,"t":true,"data":{"a":[true,false,null,-0.5],"for":"TO","candidate":{"k":12}},"z":false}']
]

test('frameValue: exactly the value JSON.parse read, as valid JSON, for tricky and random frames', async (t) => {
  for (const [name, text] of TRICKY) {
    const data = JSON.parse(text).data
    const key = 'description' in data ? 'description' : 'candidate'
    t.strictSame(JSON.parse(frameValue(text, key, data[key])), data[key], name)
  }
  // random frames: random values, spacing, key order and duplicates (a seeded generator: the same frames every run)
  let seed = 42
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]
  const space = (): string => pick(['', '', ' ', '\n', '\t ', '\r\n  '])
  const str = (): string => JSON.stringify(pick(['', 'a', '"', '\\', '}', '{"description":1}', 'v=0\r\na=x', '\u2028', 'é😀']))
  const value = (depth: number): string => {
    const kind = depth > 2 ? random() * 3 : random() * 5
    if (kind < 1) return str()
    if (kind < 2) return pick(['0', '-1.5e3', 'true', 'false', 'null'])
    if (kind < 3) return '[' + Array.from({ length: Math.floor(random() * 3) }, () => space() + value(depth + 1) + space()).join(',') + ']'
    return object(depth + 1, [])
  }
  const object = (depth: number, must: string[]): string => {
    const keys = [...must, ...Array.from({ length: Math.floor(random() * 3) }, () => pick(['description', 'candidate', 'data', 'x', 'descr\\u0069ption']))]
    keys.sort(() => random() - 0.5)
    return '{' + keys.map((k) => space() + '"' + k + '"' + space() + ':' + space() + (k === 'data' && depth === 0 ? object(1, ['description', 'candidate']) : value(depth + 1)) + space()).join(',') + '}'
  }
  let checked = 0
  for (let i = 0; i < 2000; i++) {
    const text = space() + object(0, ['type', 'data']) + space()
    const frame = JSON.parse(text)
    if (typeof frame.data !== 'object' || frame.data === null || Array.isArray(frame.data)) continue
    for (const key of ['description', 'candidate']) {
      if (!(key in frame.data)) continue
      const json = frameValue(text, key, frame.data[key])
      if (JSON.stringify(JSON.parse(json)) !== JSON.stringify(frame.data[key])) t.fail(`frame ${text}: ${key} relayed as ${json}`)
      checked++
    }
  }
  t.ok(checked > 1000, `${checked} random values checked`)
})

test('relayed frames carry exactly the validated value, whatever the sender wrote around it', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const [a, b] = await joinAll(url, 'p', 2)
  for (const [name, text] of TRICKY) {
    const sent = JSON.parse(text)
    const type = sent.type as string
    const key = type === 'rtc:sdp' ? 'description' : 'candidate'
    const raw = text.replace(/"TO"/g, `"${b.id}"`)
    a.sendRaw(raw)
    // the client parses every frame it gets: a frame that is not valid JSON fails the test there
    const got = await b.expect(type)
    t.strictSame(got, { [type === 'rtc:sdp' ? 'peer' : 'from']: a.id, [key]: JSON.parse(raw).data[key] }, name)
  }
  t.same(a.received.filter((m) => m.type === 'rtc:error'), [], 'none refused')
})

test('a member that leaves: the others get one rtc:close with id and uid', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const [a, b, c] = await joinAll(url, 'p', 3)
  b.close()
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
  t.same(await c.expect('rtc:close'), { id: b.id, uid: b.id })
  t.same(await a.sync(), [], 'exactly one rtc:close')
  t.same(await c.sync(), [])
})

test('every error reason of the protocol', async (t) => {
  const { app, url } = await listen(t, { privatePools: true, maxMembers: 1, maxPoolNameLength: 8 })
  await app.rtcPools.createPool('full', { maxMembers: 1 })
  const x = await Client.open(`${url}/rtc`)
  const c = await Client.open(`${url}/rtc`)
  const errorOf = async (send: () => void): Promise<Record<string, any>> => { send(); return await c.expect('rtc:error') }

  t.match(await errorOf(() => c.sendRaw('{nope')), { reason: 'invalid-json', message: /JSON/ })
  t.match(await errorOf(() => c.sendRaw('[1,2]')), { reason: 'invalid-frame' })
  t.match(await errorOf(() => c.sendRaw('{"type":5,"data":{}}')), { reason: 'invalid-frame' })
  t.match(await errorOf(() => c.sendRaw('{"type":"rtc:join","data":[]}')), { reason: 'invalid-frame', type: 'rtc:join' })
  t.match(await errorOf(() => c.sendRaw('{"type":"rtc:join"}')), { reason: 'invalid-frame' })
  t.match(await errorOf(() => c.sendRaw('{"type":"rtc:join","data":null}')), { reason: 'invalid-frame' })
  t.match(await errorOf(() => c.sendRaw(Buffer.from('{"type":"x","data":{}}'), true)), { reason: 'invalid-frame', message: /[Bb]inary/ })
  t.match(await errorOf(() => c.send('rtc:dance')), { reason: 'unknown-action', type: 'rtc:dance' })
  t.match(await errorOf(() => c.send('rtc:join', {})), { reason: 'missing-pool' })
  t.match(await errorOf(() => c.send('rtc:join', { pool: '' })), { reason: 'missing-pool' })
  t.match(await errorOf(() => c.send('rtc:join', { pool: 42 })), { reason: 'missing-pool' })
  t.match(await errorOf(() => c.send('rtc:join', { pool: 'ninechars' })), { reason: 'missing-pool' })
  t.match(await errorOf(() => c.send('rtc:join', { pool: 'nothere' })), { reason: 'no-such-pool', pool: 'nothere' })
  t.match(await errorOf(() => c.send('rtc:sdp', { to: 'x', description: { type: 'offer', sdp: '' } })), { reason: 'not-joined', type: 'rtc:sdp' })
  t.match(await errorOf(() => c.send('rtc:candidate', { for: 'x', candidate: null })), { reason: 'not-joined', type: 'rtc:candidate' })

  await x.join('full')
  t.match(await errorOf(() => c.send('rtc:join', { pool: 'full' })), { reason: 'pool-full', pool: 'full' })
  x.send('rtc:join', { pool: 'full' })
  t.match(await x.expect('rtc:error'), { reason: 'already-joined', pool: 'full' })
  t.same(await c.sync(), [], 'an error goes to its sender only')
  x.send('rtc:sdp', { description: { type: 'offer', sdp: '' } })
  t.match(await x.expect('rtc:error'), { reason: 'missing-target', type: 'rtc:sdp' })
  x.send('rtc:candidate', { candidate: null })
  t.match(await x.expect('rtc:error'), { reason: 'missing-target', type: 'rtc:candidate' })
  x.send('rtc:sdp', { to: c.id || 'someone', description: { type: 'offer', sdp: '' } })
  t.match(await x.expect('rtc:error'), { reason: 'unknown-peer' })
  x.send('rtc:sdp', { to: x.id, description: { type: 'offer' } })
  t.match(await x.expect('rtc:error'), { reason: 'invalid-description' })
  x.send('rtc:sdp', { to: x.id, description: 'v=0' })
  t.match(await x.expect('rtc:error'), { reason: 'invalid-description' })
  x.send('rtc:candidate', { for: x.id })
  t.match(await x.expect('rtc:error'), { reason: 'invalid-frame', type: 'rtc:candidate' })
  t.equal(x.ws.readyState, 1, 'the connection stays open after every error')
  t.equal(c.ws.readyState, 1)
})

test('a pool name that is not well-formed Unicode (a lone surrogate) is refused in frames and in server code', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  const c = await Client.open(`${url}/rtc`)
  for (const pool of ['x\ud800', '\udc00', 'a\udfffb']) {
    c.send('rtc:join', { pool })
    t.match(await c.expect('rtc:error'), { reason: 'missing-pool', type: 'rtc:join' }, JSON.stringify(pool))
    await t.rejects(app.rtcPools.createPool(pool), { code: 'FST_RTC_INVALID_POOL_NAME' })
    await t.rejects(app.rtcPools.get(pool), { code: 'FST_RTC_INVALID_POOL_NAME' })
  }
  t.same(await app.rtcPools.list(), [], 'no pool was made of it')
  t.equal((await c.join('x\ud800\udc00')).pool, 'x\ud800\udc00', 'a surrogate pair (one astral character) is fine')
})

test('rtc:error echoes client strings cut to 128 characters: a 65 KB target or type gets a small error', async (t) => {
  const { url } = await listen(t, { privatePools: false, maxPayload: 128 * 1024 })
  const [a] = await joinAll(url, 'echo', 1)
  const sizes: number[] = []
  a.ws.on('message', (data: Buffer) => sizes.push(data.length))
  const long = 'p'.repeat(65 * 1024)
  const cut = 'p'.repeat(127) + '…'
  a.send('rtc:sdp', { to: long, description: { type: 'offer', sdp: 'v=0' } })
  const unknown = await a.expect('rtc:error')
  t.match(unknown, { reason: 'unknown-peer', type: 'rtc:sdp', to: cut })
  t.ok(unknown.message.length <= 200, 'the message quotes the target cut too')
  a.send('rtc:candidate', { for: long, candidate: 5 })
  t.match(await a.expect('rtc:error'), { reason: 'invalid-frame', to: cut })
  a.send(`rtc:${long}`)
  t.match(await a.expect('rtc:error'), { reason: 'unknown-action', type: `rtc:${'p'.repeat(123)}…` })
  a.sendRaw(JSON.stringify({ type: long, data: 1 }))
  t.match(await a.expect('rtc:error'), { reason: 'invalid-frame', type: cut })
  a.send('rtc:sdp', { to: '😀'.repeat(100), description: { type: 'offer', sdp: 'v=0' } })
  const astral = await a.expect('rtc:error')
  t.equal(astral.to, '😀'.repeat(63) + '…', 'never cut inside a surrogate pair')
  t.equal(sizes.length, 5)
  t.ok(sizes.every((n) => n < 1024), `every error is small: ${sizes.join(', ')} bytes`)
})
