// ICE servers from the server, end to end over real sockets: rtc:joined.ice with the credential
// signed for the member's own id, the function form, a provider that fails, no option at all, and
// rtc:joined through the Redis adapter.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { test } from 'tap'
import { turnRestCredential } from '../lib/ice'
import { redisAdapter, type Endpoint, type IceServersResult } from '../lib/index'
import { Client, listen } from './helpers'
import { RedisServer, redisMissing } from './cluster/redis'

const SECRET = `TOP-SECRET-${randomUUID()}`
const TURN = 'turn:turn.example.org:3478'
const STUN = 'stun:stun.example.org:3478'

/** Every log line the app writes, to check that no secret or credential is among them. */
function logSink (): { lines: string[], logger: { level: string, stream: Writable } } {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString())
      done()
    }
  })
  return { lines, logger: { level: 'trace', stream } }
}

/** The TURN REST entry a member must get: its own id in the username, signed with SECRET. */
function expectedTurn (id: string, expiry: number): { urls: string, username: string, credential: string } {
  const username = `${expiry}:${id}`
  return { urls: TURN, username, credential: turnRestCredential(SECRET, username) }
}

/** The expiry (unix seconds) in a TURN REST username. */
function expiryOf (ice: IceServersResult, index: number): number {
  return Number(String(ice.servers[index].username).split(':')[0])
}

test('rtc:joined carries ice: STUN as given, TURN signed for the member\'s own id; no secret in any log', async (t) => {
  const sink = logSink()
  const ttl = 600
  const { url } = await listen(t, {
    privatePools: false,
    iceServers: [{ urls: STUN }, { urls: TURN, secret: [SECRET, `${SECRET}-old`], ttl }]
  }, { logger: sink.logger })
  const before = Math.floor(Date.now() / 1000) + ttl
  const a = await Client.open(`${url}/rtc`)
  const joinedA = await a.join('lobby')
  const b = await Client.open(`${url}/rtc`)
  const joinedB = await b.join('lobby')
  const after = Math.floor(Date.now() / 1000) + ttl
  const peer = await a.expect('rtc:peer')
  t.same(peer, { id: b.id, description: null }, 'rtc:peer is unchanged: no ice for the others')

  for (const [client, joined] of [[a, joinedA], [b, joinedB]] as const) {
    const ice = joined.ice as IceServersResult
    const expiry = expiryOf(ice, 1)
    t.ok(expiry >= before && expiry <= after, 'the credential expires ttl seconds after the join')
    t.same(ice, { servers: [{ urls: STUN }, expectedTurn(client.id, expiry)], expiresAt: expiry * 1000 },
      'the username names this member, the credential is HMAC-SHA1 with the first secret')
  }
  t.same(Object.keys(joinedA), ['client_id', 'peers', 'descriptions', 'pool', 'ice'], 'ice is an extra field after the ssp-v2 ones')

  a.close()
  await b.expect('rtc:close')
  const logs = sink.lines.join('')
  t.ok(logs.includes('rtc: joined'), 'the joins were logged')
  t.notMatch(logs, SECRET, 'no secret in the logs')
  t.notMatch(logs, (joinedB.ice as IceServersResult).servers[1].credential as string, 'no credential in the logs')
})

test('without the option rtc:joined has no ice', async (t) => {
  const { url } = await listen(t, { privatePools: false })
  const a = await Client.open(`${url}/rtc`)
  const joined = await a.join('plain')
  t.same(Object.keys(joined), ['client_id', 'peers', 'descriptions', 'pool'])
})

test('the function form gets the endpoint after the join hook: its request and description', async (t) => {
  const seen: Array<{ id: string, token: unknown, description: unknown, pool: string | null }> = []
  const { url } = await listen(t, {
    privatePools: false,
    joinHook: async (request) => ({ description: { name: (request.query as Record<string, string>).name } }),
    iceServers: async (endpoint: Endpoint) => {
      seen.push({ id: endpoint.id, token: (endpoint.request.query as Record<string, string>).token, description: endpoint.description, pool: endpoint.pool })
      return { servers: [{ urls: STUN }, { urls: TURN, username: `user-${endpoint.id}`, credential: 'from-the-provider' }], expiresAt: null }
    }
  })
  const a = await Client.open(`${url}/rtc?name=ada&token=t-1`)
  const joined = await a.join('f')
  t.same(seen, [{ id: a.id, token: 't-1', description: { name: 'ada' }, pool: null }], 'called once, before the join is applied (pool still null)')
  t.same(joined.ice, { servers: [{ urls: STUN }, { urls: TURN, username: `user-${a.id}`, credential: 'from-the-provider' }], expiresAt: null })
})

test('a provider that throws: the join succeeds without ice, a warning without the secret is logged', async (t) => {
  const sink = logSink()
  const { url } = await listen(t, {
    privatePools: false,
    iceServers: async () => { throw new Error('TURN provider unreachable') }
  }, { logger: sink.logger })
  const a = await Client.open(`${url}/rtc`)
  const joined = await a.join('down')
  t.same(Object.keys(joined), ['client_id', 'peers', 'descriptions', 'pool'], 'joined, with no ice field')
  const warning = sink.lines.map((l) => JSON.parse(l)).find((l) => l.level === 40)
  t.match(warning, { peer: a.id, err: { message: 'TURN provider unreachable' }, msg: /ICE servers could not be issued/ })

  // A provider returning a TURN entry without credential: the same, and the message quotes no credential.
  const lines = sink.lines.length
  const bad = await listen(t, {
    privatePools: false,
    iceServers: async () => ({ servers: [{ urls: TURN, username: 'u', credential: 42 as unknown as string }, { urls: TURN, credential: SECRET }], expiresAt: null })
  }, { logger: sink.logger })
  const b = await Client.open(`${bad.url}/rtc`)
  t.same(Object.keys(await b.join('down')), ['client_id', 'peers', 'descriptions', 'pool'])
  const logged = sink.lines.slice(lines).join('')
  t.match(logged, /FST_RTC_INVALID_OPTION/)
  t.notMatch(logged, SECRET)
})

// ---------------------------------------------------------------------------------------------
// Through the Redis adapter: rtc:joined is written when the join comes back from Redis.

const noRedis = redisMissing()
test('through the Redis adapter, each process signs rtc:joined.ice for its own member', { skip: noRedis ?? false }, async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop('SIGTERM'))
  const prefix = `ice-${randomUUID()}:`
  const iceServers = [{ urls: TURN, secret: SECRET, ttl: 600 }]
  const one = await listen(t, { privatePools: false, iceServers, adapter: redisAdapter({ url: redis.url, prefix }) })
  const two = await listen(t, { privatePools: false, iceServers, adapter: redisAdapter({ url: redis.url, prefix }) })
  const a = await Client.open(`${one.url}/rtc`)
  const joinedA = await a.join('spread')
  const b = await Client.open(`${two.url}/rtc`)
  const joinedB = await b.join('spread')
  t.same(joinedB.peers, [a.id])
  t.same(await a.expect('rtc:peer'), { id: b.id, description: null }, 'the member of the other process sees no ice')
  for (const [client, joined] of [[a, joinedA], [b, joinedB]] as const) {
    const ice = joined.ice as IceServersResult
    t.same(ice.servers, [expectedTurn(client.id, expiryOf(ice, 0))], 'signed for this member')
  }
})
