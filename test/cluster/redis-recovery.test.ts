// The Redis adapter's edge paths, with two apps in this process on one redis-server: a process
// taken for dead while alive, a brief connection loss, a given ioredis client, options, no Redis.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import diagnostics from 'node:diagnostics_channel'
import { CHANNELS, redisAdapter } from '../../lib/index'
import type { ClusterAdapter } from '../../lib/adapters/cluster/adapter'
import type { ClusterState } from '../../lib/adapters/cluster/state'
import { SCRIPTS } from '../../lib/adapters/redis/scripts'
import { rule9Violations } from '../adapter-contract'
import { Client, listen, type Tap } from '../helpers'
import { RedisServer, freePort, redisMissing } from './redis'
import { knowsExactly, trackPeers, until } from './watch'
import { whenAvailable } from '../services'

const SDP = { type: 'offer', sdp: 'v=0\r\n' }

whenAvailable(redisMissing(), 'Redis adapter recovery', () => {
  let redis: RedisServer
  let raw: Redis
  const clients: Client[] = []
  t.before(async () => {
    redis = await RedisServer.start()
    raw = new Redis(redis.url)
    raw.on('error', () => {})
  })
  t.teardown(async () => {
    raw?.disconnect()
    await redis?.stop('SIGTERM')
  })

  const pair = async (tt: Tap, ttl = 10_000): Promise<{ prefix: string, apps: Awaited<ReturnType<typeof listen>>[], adapters: ClusterAdapter[] }> => {
    const prefix = `rec-${randomUUID()}:`
    const adapters = [0, 1].map(() => redisAdapter({ url: redis.url, prefix, ttl }) as ClusterAdapter)
    const apps = [
      await listen(tt, { privatePools: false, adapter: adapters[0] }),
      await listen(tt, { privatePools: false, adapter: adapters[1] })
    ]
    return { prefix, apps, adapters }
  }
  /** Resolves at the adapter's next transition from `from` to `to`. */
  const transition = (adapter: ClusterAdapter, from: ClusterState, to: ClusterState): Promise<void> => new Promise((resolve) => {
    const onState = (state: ClusterState, previous: ClusterState): void => {
      if (state !== to || previous !== from) return
      adapter.removeListener('state', onState)
      resolve()
    }
    adapter.on('state', onState)
  })
  const open = async (url: string): Promise<Client> => {
    const c = await Client.open(`${url}/rtc`)
    clients.push(c)
    return c
  }

  const killConnections = async (node: string): Promise<number> => {
    const list = await raw.client('LIST') as string
    const ids = list.split('\n').filter((l) => l.includes(`name=rtc-cmd-${node}`) || l.includes(`name=rtc-sub-${node}`)).map((l) => /id=(\d+)/.exec(l)?.[1] as string)
    for (const id of ids) await raw.client('KILL', 'ID', id)
    return ids.length
  }

  t.test('a live process taken for dead (its liveness key expired) re-announces its members', async (t) => {
    const { prefix, apps: [one, two] } = await pair(t)
    const a = await open(one.url)
    await a.join('p')
    const b = await open(two.url)
    await b.join('p')
    await a.expect('rtc:peer')
    // What a survivor does when process one's key has expired (e.g. its event loop stalled past the TTL).
    await raw.del(`${prefix}alive:${one.app.rtcPools.node}`)
    await raw.evalsha(SCRIPTS.reap.sha, 0, prefix).catch(async () => await raw.eval(SCRIPTS.reap.text, 0, prefix))
    // b sees a closed, then back; a sees b closed, then back: both sides agree.
    t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
    t.equal((await b.expect('rtc:peer')).id, a.id)
    t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
    t.equal((await a.expect('rtc:peer')).id, b.id)
    t.same((await two.app.rtcPools.get('p'))?.members.map((m) => m.id).sort(), [a.id, b.id].sort())
    a.send('rtc:sdp', { to: b.id, description: SDP })
    t.same(await b.expect('rtc:sdp'), { peer: a.id, description: SDP }, 'relay works again')
    t.same(await a.sync(), [])
    t.same(await b.sync(), [])
  })

  t.test('a brief loss of the Redis connections (no data lost, under the TTL): nobody sees anything', async (t) => {
    const { apps: [one, two], adapters: [adapterOne] } = await pair(t)
    const a = await open(one.url)
    await a.join('q')
    const b = await open(two.url)
    await b.join('q')
    await a.expect('rtc:peer')
    const back = transition(adapterOne, 'recovering', 'live')
    const lost = new Promise<Record<string, any>>((resolve) => {
      const seen = (fact: any): void => {
        if (fact.node !== one.app.rtcPools.node) return
        diagnostics.unsubscribe(CHANNELS.adapter, seen)
        resolve(fact)
      }
      diagnostics.subscribe(CHANNELS.adapter, seen)
    })
    t.equal(await killConnections(one.app.rtcPools.node), 2, 'both connections of process one killed')
    await back // reconnected and resynced
    t.match(await lost, { op: 'connection', error: { message: 'lost Redis' } }, 'the outage is published on the adapter channel (adapter_errors_total{op="connection"})')
    b.send('rtc:candidate', { for: a.id, candidate: null })
    t.same(await a.next(), { type: 'rtc:candidate', data: { from: b.id, candidate: null } }, 'relay from b reaches a again')
    a.send('rtc:sdp', { to: b.id, description: SDP })
    let m
    do m = await b.next(); while (m.type !== 'rtc:sdp')
    t.same(m.data, { peer: a.id, description: SDP })
    for (const c of [a, b]) t.notOk(c.received.some((x) => x.type === 'rtc:close'), 'no rtc:close')
  })

  t.test('what a process missed while disconnected reaches its members when it is back (or in the stream, if it was quicker)', async (t) => {
    const { apps: [one, two] } = await pair(t)
    await two.app.rtcPools.createPool('room')
    const a = await open(one.url)
    await a.join('room')
    const b = await open(two.url)
    await b.join('room')
    const c = await open(two.url)
    await c.join('room')
    await a.expect('rtc:peer')
    await a.expect('rtc:peer')
    await b.expect('rtc:peer')
    t.equal(await killConnections(one.app.rtcPools.node), 2)
    c.close() // a leave, then a close of the pool, probably while process one is away
    t.same(await b.expect('rtc:close'), { id: c.id, uid: c.id }, 'c gone')
    await two.app.rtcPools.closePool('room')
    // If process one was back before the close, a gets the leave and then the close, in the stream;
    // if not, its resync finds the pool gone and a gets rtc:stop (the pool is over: no rtc:close first).
    let m = await a.next(10_000)
    if (m.type === 'rtc:close') {
      t.same(m.data, { id: c.id, uid: c.id }, 'the leave it missed')
      m = await a.next(10_000)
    }
    t.same(m, { type: 'rtc:stop', data: {} }, 'the close it missed')
    t.equal((await a.closed).code, 1000)
    t.same(await b.expect('rtc:stop'), {})
  })

  t.test('Redis loses its data while connected (FLUSHALL): the heartbeat notices, a pool created by server code lives on', async (t) => {
    const { apps: [one, two], adapters } = await pair(t, 600) // a heartbeat every 200 ms
    await one.app.rtcPools.createPool('keep')
    const a = await open(one.url)
    await a.join('keep')
    const b = await open(two.url)
    await b.join('keep')
    await a.expect('rtc:peer')
    const known = [trackPeers(a), trackPeers(b)]
    const rebuilt = adapters.map(async (adapter) => await transition(adapter, 'resyncing', 'live'))
    await raw.flushall()
    await Promise.all(rebuilt)
    t.ok(await until(a, () => knowsExactly(known[0], [b.id])), 'a knows b again')
    t.ok(await until(b, () => knowsExactly(known[1], [a.id])), 'b knows a again')
    t.same((await two.app.rtcPools.get('keep'))?.members.map((m) => m.id).sort(), [a.id, b.id].sort(), 'both members are back in Redis (re-announced in either order)')
    b.close()
    t.ok(await until(a, () => !known[0].has(b.id)), 'b left')
    const mark = a.received.length
    t.same(await two.app.rtcPools.get('keep'), { name: 'keep', maxMembers: 32, persistent: true, members: [{ id: a.id, description: null, node: one.app.rtcPools.node, state: 'connected' }] }, 'the pool lives on, with a only')
    await a.sync()
    t.same(a.received.slice(mark, -1), [], 'nothing more')
    t.notOk(a.received.some((m) => m.type === 'rtc:stop'), 'never stopped')
  })

  t.test('a given ioredis client: used for commands, duplicated for the subscriber, left open', async (t) => {
    const client = new Redis(redis.url)
    client.on('error', () => {})
    t.teardown(() => client.disconnect())
    const prefix = `given-${randomUUID()}:`
    const one = await listen(t, { privatePools: false, adapter: redisAdapter({ client, prefix }) })
    const two = await listen(t, { privatePools: false, adapter: redisAdapter({ url: redis.url, prefix }) })
    const a = await open(one.url)
    await a.join('g')
    const b = await open(two.url)
    t.same((await b.join('g')).peers, [a.id])
    await one.app.close()
    t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id }, 'a clean close leaves the cluster at once')
    t.equal(client.status, 'ready', 'the given client is the caller\'s to close')
  })

  t.test('options are validated when redisAdapter() is called', async (t) => {
    t.throws(() => redisAdapter({ ttl: 0 }), { code: 'FST_RTC_INVALID_OPTION' })
    t.throws(() => redisAdapter({ ttl: 1.5 }), { code: 'FST_RTC_INVALID_OPTION' })
    t.throws(() => redisAdapter({ prefix: '' }), { code: 'FST_RTC_INVALID_OPTION' })
    t.throws(() => redisAdapter({ url: 42 as unknown as string }), { code: 'FST_RTC_INVALID_OPTION' })
    t.throws(() => redisAdapter({ client: {} as never }), { code: 'FST_RTC_INVALID_OPTION' })
    t.throws(() => redisAdapter({ url: redis.url, client: raw }), { code: 'FST_RTC_INVALID_OPTION' })
  })

  t.test('no Redis at startup: registration fails after connectTimeout, nothing left running', async (t) => {
    const port = await freePort() // nobody listens there
    const err = await listen(t, { adapter: redisAdapter({ url: `redis://:hunter2@127.0.0.1:${port}`, connectTimeout: 500 }) }).then(() => null, (e: Error) => e)
    t.match(err, { code: 'FST_RTC_REDIS_UNAVAILABLE', statusCode: 503 })
    t.notMatch(err?.message, /hunter2/, 'the password in the URL is not in the message')
  })

  t.test('rule 9 held for every client', async (t) => {
    for (const c of clients) t.same(rule9Violations(c), [], c.id)
  })
})
