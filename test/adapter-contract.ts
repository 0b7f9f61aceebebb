// One contract, every adapter: the behaviour a pool must have whatever bus carries it, through the
// public API (fastify.rtcPools) and real sockets. A factory builds one or more apps on one adapter
// backend; clients are spread over them (with one app, everything is local).
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import type { RtcSignalOptions } from '../lib/index'
import { Client, type Message, type Tap } from './helpers'

export interface ClusterUnderTest {
  apps: FastifyInstance[]
  /** ws:// base URL of each app, in the order of `apps`. */
  urls: string[]
}

export type ClusterFactory = (t: Tap, opts: RtcSignalOptions) => Promise<ClusterUnderTest>

/**
 * Polls `check` until it returns true; fails after `ms`. Only for a state no event announces
 * (await the event where there is one: `rtcPools.once('pool-closed')`, `client.expect(...)`).
 */
export async function eventually (check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * docs/protocol.md, rule 9, checked on everything a client received: no rtc:sdp, rtc:candidate,
 * rtc:describe or rtc:close names a peer it was not told of first, and at most one rtc:close per peer
 * (until it is announced again). Returns the violations.
 */
export function rule9Violations (client: Pick<Client, 'received'>): string[] {
  const known = new Set<string>()
  const bad: string[] = []
  const check = (id: unknown, m: Message): void => {
    if (typeof id !== 'string' || !known.has(id)) bad.push(`${m.type} names unknown peer ${String(id)}`)
  }
  for (const m of client.received) {
    switch (m.type) {
      case 'rtc:joined':
        for (const p of m.data.peers as string[]) known.add(p)
        break
      case 'rtc:peer':
        known.add(m.data.id)
        break
      case 'rtc:sdp': check(m.data.peer, m); break
      case 'rtc:candidate': check(m.data.from, m); break
      case 'rtc:describe': check(m.data.id, m); break
      case 'rtc:close':
        check(m.data.id, m)
        known.delete(m.data.id)
        break
    }
  }
  return bad
}

/** Opens `n` clients, client i on app i % apps, and joins them one after another; each earlier member sees each later one. */
export async function joinSpread (urls: string[], pool: string, n: number, query = ''): Promise<Client[]> {
  const clients = await Promise.all(Array.from({ length: n }, async (_, i) => await Client.open(`${urls[i % urls.length]}/rtc${query}`)))
  for (const [i, c] of clients.entries()) {
    await c.join(pool)
    const announced = await Promise.all(clients.slice(0, i).map(async (earlier) => (await earlier.expect('rtc:peer')).id))
    if (announced.some((id) => id !== c.id)) throw new Error('rtc:peer for the wrong member')
  }
  return clients
}

const SDP = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }

export function adapterContract (label: string, factory: ClusterFactory): void {
  const all: Client[] = []
  const track = <T extends Client | Client[]>(c: T): T => { all.push(...(Array.isArray(c) ? c : [c])); return c }
  const open = async (url: string, query = ''): Promise<Client> => track(await Client.open(`${url}/rtc${query}`))

  test(`${label}: join lists every member with its description; the others get rtc:peer (and rtc:describe)`, async (t) => {
    const { urls } = await factory(t, {
      privatePools: false,
      joinHook: (request) => ({ description: { name: (request.query as Record<string, string>).name ?? null } })
    })
    const a = await open(urls[0], '?name=ada')
    await a.join('lobby')
    const b = await open(urls[1 % urls.length], '?name=bob')
    const joined = await b.join('lobby')
    t.same(joined.peers, [a.id])
    t.same(joined.descriptions, { [a.id]: { name: 'ada' }, [b.id]: { name: 'bob' } })
    t.same(await a.expect('rtc:peer'), { id: b.id, description: { name: 'bob' } })
    t.same(await a.expect('rtc:describe'), { id: b.id, uid: b.id, description: { name: 'bob' } }, 'non-null description repeated as rtc:describe')
    const c = await open(urls[2 % urls.length], '?name=cy')
    t.same((await c.join('lobby')).peers, [a.id, b.id], 'peers in join order')
    for (const x of [a, b]) {
      t.equal((await x.expect('rtc:peer')).id, c.id)
      await x.expect('rtc:describe')
    }
    for (const x of [a, b, c]) t.same(await x.sync(), [])
  })

  test(`${label}: relay reaches a member wherever it is, in order per sender and receiver`, async (t) => {
    const { urls } = await factory(t, { privatePools: false, rateLimit: false })
    const [a, b, c] = track(await joinSpread(urls, 'relay', 3))
    a.send('rtc:sdp', { to: b.id, description: SDP })
    t.same(await b.expect('rtc:sdp'), { peer: a.id, description: SDP })
    const N = 200
    for (let i = 0; i < N; i++) {
      a.send('rtc:candidate', { for: c.id, candidate: { candidate: `a${i}`, sdpMid: '0' } })
      b.send('rtc:candidate', { for: c.id, candidate: { candidate: `b${i}`, sdpMid: '0' } })
    }
    const seen: Record<string, number[]> = { [a.id]: [], [b.id]: [] }
    for (let i = 0; i < 2 * N; i++) {
      const m = await c.expect('rtc:candidate')
      seen[m.from].push(Number(String(m.candidate.candidate).slice(1)))
    }
    const inOrder = Array.from({ length: N }, (_, i) => i)
    t.same(seen[a.id], inOrder, 'a → c in order, none lost')
    t.same(seen[b.id], inOrder, 'b → c in order, none lost')
    c.send('rtc:sdp', { to: 'not-a-member', description: SDP })
    t.match(await c.expect('rtc:error'), { reason: 'unknown-peer' })
  })

  test(`${label}: a member that leaves: every other member gets exactly one rtc:close; an empty public pool goes`, async (t) => {
    const { apps, urls } = await factory(t, { privatePools: false })
    const [a, b, c] = track(await joinSpread(urls, 'bye', 3))
    b.close()
    t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
    t.same(await c.expect('rtc:close'), { id: b.id, uid: b.id })
    t.same(await a.sync(), [])
    t.same(await c.sync(), [])
    // pool-closed fires on the app that applies the last leave (the others stopped tracking the pool)
    const closed = Promise.race(apps.map(async (app) => await app.rtcPools.once('pool-closed')))
    a.close()
    c.close()
    t.same(await closed, { pool: 'bye', reason: 'empty' })
    for (const app of apps) t.equal(await app.rtcPools.get('bye'), null, 'empty public pool removed')
    t.same((await apps[0].rtcPools.list()).filter((p) => p.name === 'bye'), [])
  })

  test(`${label}: describe from any app reaches every member but the described one`, async (t) => {
    const { apps, urls } = await factory(t, { privatePools: false })
    const [a, b, c] = track(await joinSpread(urls, 'desc', 3))
    await apps[apps.length - 1].rtcPools.describe(a.id, { role: 'host' })
    t.same(await b.expect('rtc:describe'), { id: a.id, uid: a.id, description: { role: 'host' } })
    t.same(await c.expect('rtc:describe'), { id: a.id, uid: a.id, description: { role: 'host' } })
    t.same(await a.sync(), [], 'not sent to the member described')
    const info = await apps[0].rtcPools.get('desc')
    t.same(info?.members.find((m) => m.id === a.id)?.description, { role: 'host' })
    await t.rejects(apps[0].rtcPools.describe('00000000-0000-4000-8000-000000000000', 1), { code: 'FST_RTC_NO_SUCH_PEER' })
  })

  test(`${label}: private pools: created on one app, joinable on every app, closed from any (rtc:stop)`, async (t) => {
    const { apps, urls } = await factory(t, { privatePools: true })
    const x = await open(urls[urls.length - 1])
    x.send('rtc:join', { pool: 'room' })
    t.match(await x.expect('rtc:error'), { reason: 'no-such-pool', pool: 'room' })
    const created = await apps[0].rtcPools.createPool('room', { maxMembers: 5 })
    t.same(created, { name: 'room', maxMembers: 5, persistent: true, members: [] })
    await t.rejects(apps[apps.length - 1].rtcPools.createPool('room'), { code: 'FST_RTC_POOL_EXISTS' })
    const members = track(await joinSpread(urls, 'room', 3))
    const info = await apps[apps.length - 1].rtcPools.get('room')
    t.same(info?.members.map((m) => m.id), members.map((m) => m.id), 'listed in join order')
    t.equal(info?.maxMembers, 5)
    t.equal(info?.persistent, true)
    t.same(new Set(info?.members.map((m) => m.node)).size, Math.min(3, apps.length), 'members carry the node they are connected to')
    const names = (await apps[0].rtcPools.list()).map((p) => p.name)
    t.ok(names.includes('room'), 'list() has the pool')

    for (const m of members) m.close()
    // No event can say this: a persistent pool's last member leaves without rtc:close to anyone and without pool-closed.
    for (const app of apps) await eventually(async () => (await app.rtcPools.get('room'))?.members.length === 0, 5000, 'members gone')
    t.not(await apps[0].rtcPools.get('room'), null, 'a created pool outlives its members')

    const again = track(await joinSpread(urls, 'room', 3))
    await apps[apps.length - 1].rtcPools.closePool('room')
    for (const m of again) {
      t.same(await m.expect('rtc:stop'), {})
      t.equal((await m.closed).code, 1000)
    }
    t.equal(await apps[0].rtcPools.get('room'), null)
    await t.rejects(apps[0].rtcPools.closePool('room'), { code: 'FST_RTC_NO_SUCH_POOL' })
    const y = await open(urls[0])
    y.send('rtc:join', { pool: 'room' })
    t.match(await y.expect('rtc:error'), { reason: 'no-such-pool' }, 'closed everywhere')
  })

  test(`${label}: the member limit holds under concurrent joins on every app`, async (t) => {
    const { apps, urls } = await factory(t, { privatePools: true })
    for (let round = 0; round < 5; round++) {
      const pool = `limit${round}`
      await apps[round % apps.length].rtcPools.createPool(pool, { maxMembers: 3 })
      const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => open(urls[i % urls.length])))
      for (const c of clients) c.send('rtc:join', { pool })
      const answers = await Promise.all(clients.map(async (c) => (await c.next()).type === 'rtc:joined' ? 'in' : 'out'))
      t.equal(answers.filter((a) => a === 'in').length, 3, `round ${round}: exactly maxMembers admitted`)
      t.equal((await apps[0].rtcPools.get(pool))?.members.length, 3)
      for (const c of clients) c.close()
    }
  })

  test(`${label}: kick, send and broadcast reach a member on any app`, async (t) => {
    const { apps, urls } = await factory(t, { privatePools: false })
    const [a, b, c] = track(await joinSpread(urls, 'k', 3))
    const last = apps[apps.length - 1]
    await apps[0].rtcPools.send(c.id, 'note', { n: 1 })
    t.same(await c.expect('note'), { n: 1 })
    await last.rtcPools.broadcast('k', 'all', { n: 2 }, { except: a.id })
    t.same(await b.expect('all'), { n: 2 })
    t.same(await c.expect('all'), { n: 2 })
    t.same(await a.sync(), [], 'except is honoured')
    await apps[0].rtcPools.kick(b.id, 'bye')
    t.same(await b.closed, { code: 1008, reason: 'bye' })
    t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
    t.same(await c.expect('rtc:close'), { id: b.id, uid: b.id })
    const info = await last.rtcPools.get('k')
    t.same(info?.members.map((m) => m.id), [a.id, c.id], 'the kicked member is gone from the pool')
    await t.rejects(last.rtcPools.kick('00000000-0000-4000-8000-000000000000'), { code: 'FST_RTC_NO_SUCH_PEER' })
    await t.rejects(last.rtcPools.send('00000000-0000-4000-8000-000000000000', 'x', {}), { code: 'FST_RTC_NO_SUCH_PEER' })
    t.same(await a.sync(), [])
  })

  test(`${label}: a pool name with a lone surrogate is refused on every app, and nothing is stored under it`, async (t) => {
    const { apps, urls } = await factory(t, { privatePools: false })
    for (const [i, url] of urls.entries()) {
      const c = await open(url)
      c.send('rtc:join', { pool: 'x\ud800' })
      t.match(await c.expect('rtc:error'), { reason: 'missing-pool' })
      await t.rejects(apps[i].rtcPools.createPool('x\ud800'), { code: 'FST_RTC_INVALID_POOL_NAME' })
    }
    const names = (await apps[0].rtcPools.list()).map((p) => p.name)
    t.notOk(names.some((name) => name.startsWith('x')), 'no pool "x\ufffd" (what Redis would have stored)')
  })

  test(`${label}: every client got only what rule 9 allows`, async (t) => {
    for (const c of all) t.same(rule9Violations(c), [], `client ${c.id || '(not joined)'}`)
  })
}
