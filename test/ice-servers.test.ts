// ICE servers from the server, end to end over real sockets: rtc:joined.ice with the credential
// signed for the member's own id, rtc:ice on the refresh timer (a fake clock), refreshIce(), the
// function form, a provider that fails, no option at all, and rtc:joined through the Redis adapter.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { createCore } from '../lib/core/core'
import type { Clock, TimerHandle } from '../lib/core/heartbeat'
import { routes } from '../lib/fastify/routes'
import { MIN_REFRESH_DELAY, MIN_TURN_TTL, turnRestCredential } from '../lib/ice'
import { redisAdapter, type Endpoint, type IceServersResult, type RtcSignalOptions } from '../lib/index'
import { normalizeOptions } from '../lib/options'
import { Client, listen, type Tap } from './helpers'
import { RedisServer, redisMissing } from './cluster/redis'

const SECRET = `TOP-SECRET-${randomUUID()}`
const TURN = 'turn:turn.example.org:3478'
const STUN = 'stun:stun.example.org:3478'
const NOW = 1_700_000_000_000

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

test('without the option rtc:joined has no ice, no rtc:ice comes, and refreshIce() sends nothing', async (t) => {
  const { app, url } = await listen(t, { privatePools: false })
  const a = await Client.open(`${url}/rtc`)
  const joined = await a.join('plain')
  t.same(Object.keys(joined), ['client_id', 'peers', 'descriptions', 'pool'])
  t.equal(await app.rtcPools.refreshIce(), 0)
  t.equal(await app.rtcPools.refreshIce(a.id), 0)
  t.same(await a.sync(), [], 'nothing was sent')
})

test('refreshIce(id) pushes rtc:ice to that member, refreshIce() to every member; a rotated secret signs at once', async (t) => {
  // The function form with turnRestCredential: the secret can change while the server runs.
  let secret = `${SECRET}-1`
  const ttl = 3600
  const { app, url } = await listen(t, {
    privatePools: false,
    iceServers: (endpoint) => {
      const expiry = Math.floor(Date.now() / 1000) + ttl
      const username = `${expiry}:${endpoint.id}`
      return { servers: [{ urls: TURN, username, credential: turnRestCredential(secret, username) }], expiresAt: expiry * 1000 }
    }
  })
  const a = await Client.open(`${url}/rtc`)
  const joinedA = await a.join('r')
  const b = await Client.open(`${url}/rtc`)
  await b.join('r')
  await a.expect('rtc:peer')
  const outsider = await Client.open(`${url}/rtc`) // connected, not in a pool

  t.equal(await app.rtcPools.refreshIce(a.id), 1)
  const one = await a.expect('rtc:ice') as IceServersResult
  t.equal(one.servers[0].username, `${expiryOf(one, 0)}:${a.id}`)
  t.equal(one.servers[0].credential, turnRestCredential(secret, one.servers[0].username as string))
  t.ok(one.expiresAt !== null && one.expiresAt >= (joinedA.ice as IceServersResult).expiresAt!, 'no older than the first')
  t.same(await b.sync(), [], 'the other member got nothing')

  secret = `${SECRET}-2`
  t.equal(await app.rtcPools.refreshIce(), 2, 'both members, not the connection outside any pool')
  for (const client of [a, b]) {
    const ice = await client.expect('rtc:ice') as IceServersResult
    t.equal(ice.servers[0].credential, turnRestCredential(`${SECRET}-2`, `${expiryOf(ice, 0)}:${client.id}`), 'signed with the new secret')
  }
  t.same(await outsider.sync(), [])

  await t.rejects(app.rtcPools.refreshIce('nobody'), { code: 'FST_RTC_NO_SUCH_PEER' })
  await t.rejects(app.rtcPools.refreshIce(outsider.id), { code: 'FST_RTC_NO_SUCH_PEER' }, 'not a member of any pool')
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
// The refresh timer, on a fake clock: the plugin's own routes and core, wired as lib/fastify/plugin.ts does.

/** Timers that fire when the test advances the time. */
class FakeClock implements Clock {
  time = NOW
  #next = 0
  readonly #timers = new Map<number, { at: number, callback: () => void }>()

  setInterval (): TimerHandle { return {} }
  clearInterval (): void {}
  setTimeout (callback: () => void, ms: number): TimerHandle & { id: number } {
    const id = ++this.#next
    this.#timers.set(id, { at: this.time + ms, callback })
    return { id, unref () {} }
  }

  clearTimeout (timer: TimerHandle): void {
    this.#timers.delete((timer as { id: number }).id)
  }

  now (): number {
    return this.time
  }

  /** Timers pending now, and when they fire (ms from now). */
  get pending (): number[] {
    return Array.from(this.#timers.values(), (x) => x.at - this.time)
  }

  /** Moves the time on by `ms`, firing the timers that come due, in order. */
  advance (ms: number): void {
    const end = this.time + ms
    for (;;) {
      const due = Array.from(this.#timers.entries()).filter(([, x]) => x.at <= end).sort((x, y) => x[1].at - y[1].at)[0]
      if (due === undefined) break
      this.#timers.delete(due[0])
      this.time = due[1].at
      due[1].callback()
    }
    this.time = end
  }
}

async function listenWithClock (t: Tap, opts: RtcSignalOptions, clock: FakeClock): Promise<{ url: string, core: ReturnType<typeof createCore> }> {
  const app = Fastify()
  t.teardown(() => app.close())
  const options = normalizeOptions({ heartbeatInterval: 0, ...opts })
  const core = createCore(options, app.log, { clock })
  app.addHook('preClose', async () => { await core.closeAll() })
  app.addHook('onClose', async () => { await core.dispose() })
  await app.register(websocket)
  await core.start()
  await app.register(routes, { prefix: options.prefix, connect: core.connect, poolExists: async (name) => (await core.manager.get(name)) !== null, options, node: core.manager.node })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { url: `ws://127.0.0.1:${address.port}`, core }
}

test('rtc:ice arrives at 70-80 % of the lifetime, before expiry, then again; leaving clears the timer', async (t) => {
  const clock = new FakeClock()
  const ttl = MIN_TURN_TTL
  const { url, core } = await listenWithClock(t, { privatePools: false, iceServers: [{ urls: TURN, secret: SECRET, ttl }] }, clock)
  const a = await Client.open(`${url}/rtc`)
  const joined = await a.join('timed')
  const first = joined.ice as IceServersResult
  t.same(first, { servers: [expectedTurn(a.id, NOW / 1000 + ttl)], expiresAt: NOW + ttl * 1000 }, 'issued at the clock\'s time')
  t.equal(clock.pending.length, 1, 'one refresh timer for the member')
  const [delay] = clock.pending
  t.ok(delay >= 0.70 * ttl * 1000 && delay <= 0.80 * ttl * 1000, `the refresh is due at 70-80 % of the lifetime (${delay} ms)`)

  clock.advance(delay - 1)
  t.same(await a.sync(), [], 'nothing before it is due')
  clock.advance(1)
  const second = await a.expect('rtc:ice') as IceServersResult
  const issuedAt = NOW + delay
  const expiry = Math.floor(issuedAt / 1000) + ttl
  t.same(second, { servers: [expectedTurn(a.id, expiry)], expiresAt: expiry * 1000 }, 'fresh credentials, signed at the time of the refresh')
  t.ok(issuedAt < (first.expiresAt as number), 'pushed before the first credential expires')

  t.equal(clock.pending.length, 1, 'the next refresh is scheduled')
  clock.advance(clock.pending[0])
  const third = await a.expect('rtc:ice') as IceServersResult
  t.ok((third.expiresAt as number) > (second.expiresAt as number), 'and again')

  const b = await Client.open(`${url}/rtc`)
  await b.join('timed')
  await a.expect('rtc:peer')
  t.equal(clock.pending.length, 2, 'one timer per member')
  b.close()
  await a.expect('rtc:close')
  t.equal(clock.pending.length, 1, 'the leaver\'s timer is cleared')
  const left = core.manager.once('leave')
  a.close()
  await left
  t.same(clock.pending, [], 'no timer left once every member is gone')
})

test('static servers only: no refresh timer; closing the pool or the server clears the timers', async (t) => {
  const clock = new FakeClock()
  const stun = await listenWithClock(t, { privatePools: false, iceServers: [{ urls: STUN }] }, clock)
  const s = await Client.open(`${stun.url}/rtc`)
  t.same((await s.join('static')).ice, { servers: [{ urls: STUN }], expiresAt: null })
  t.same(clock.pending, [], 'nothing expires, nothing to refresh')

  const turn = await listenWithClock(t, { iceServers: [{ urls: TURN, secret: SECRET, ttl: 3600 }] }, clock)
  await turn.core.manager.createPool('closing')
  const a = await Client.open(`${turn.url}/rtc`)
  await a.join('closing')
  t.equal(clock.pending.length, 1)
  await turn.core.manager.closePool('closing')
  await a.expect('rtc:stop')
  t.same(clock.pending, [], 'rtc:stop: the timer went with the pool')

  await turn.core.manager.createPool('again')
  const b = await Client.open(`${turn.url}/rtc`)
  await b.join('again')
  t.equal(clock.pending.length, 1)
  await turn.core.closeAll()
  t.same(clock.pending, [], 'closeAll clears every timer')
})

test('a provider that fails at join is retried: rtc:ice comes once it answers', async (t) => {
  const clock = new FakeClock()
  let up = false
  let calls = 0
  const { url } = await listenWithClock(t, {
    privatePools: false,
    iceServers: async (endpoint) => {
      calls++
      if (!up) throw new Error('provider down')
      return { servers: [{ urls: TURN, username: `u-${endpoint.id}`, credential: 'c' }], expiresAt: clock.now() + 600_000 }
    }
  }, clock)
  const a = await Client.open(`${url}/rtc`)
  const joined = await a.join('retry')
  t.equal(joined.ice, undefined, 'joined without ice')
  t.same(clock.pending, [MIN_REFRESH_DELAY], 'a retry is scheduled')
  clock.advance(MIN_REFRESH_DELAY)
  t.same(await a.sync(), [], 'still down: nothing sent') // the provider has answered by the time the probe comes back
  t.same(clock.pending, [MIN_REFRESH_DELAY], 'and retried again')
  up = true
  clock.advance(MIN_REFRESH_DELAY)
  t.same(await a.expect('rtc:ice'), { servers: [{ urls: TURN, username: `u-${a.id}`, credential: 'c' }], expiresAt: NOW + 2 * MIN_REFRESH_DELAY + 600_000 })
  t.equal(calls, 3)
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
  t.equal(await two.app.rtcPools.refreshIce(b.id), 1)
  t.equal((await b.expect('rtc:ice') as IceServersResult).servers[0].username?.endsWith(`:${b.id}`), true)
  await t.rejects(one.app.rtcPools.refreshIce(b.id), { code: 'FST_RTC_NO_SUCH_PEER' }, 'refreshIce(id) is for members of this process')
})
