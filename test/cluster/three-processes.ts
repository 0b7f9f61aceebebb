// The three-process cluster suite, on any Redis backend (one server: cluster.test.ts; Redis Cluster:
// cluster-sharded.test.ts): three signalling server processes on their own ports, clients spread
// over them. Join, relay in order, describe, stop, kick, limits under concurrent joins, churn with
// rule 9 checked on every client, a SIGKILLed process; then the backend's own chaos tests.
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import { joinSpread, rule9Violations } from '../adapter-contract'
import { Client } from '../helpers'
import { ServerProcess, type ServerSettings } from './procs'
import { knowsExactly, signalKnownPeers, trackPeers, until } from './watch'

/** Short, so the dead-process test runs in seconds; the default is 10 s. */
export const TTL = 3000
export const SDP = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }

export interface Backend {
  start (): Promise<void>
  stop (): Promise<void>
  /** Where the processes find it: `url` or `cluster`. */
  where (): Pick<ServerSettings, 'url' | 'cluster'>
}

/** What the backend's own tests get: the processes (0-2 serve the clients), clients, helpers. */
export interface Suite {
  procs: ServerProcess[]
  clients: Client[]
  prefix: string
  urls (): string[]
  open (url: string, query?: string): Promise<Client>
  spread (pool: string, n: number): Promise<Client[]>
}

export function threeProcesses (t: Test, backend: Backend, extra: (suite: Suite) => void): void {
  const procs: ServerProcess[] = []
  const clients: Client[] = []
  const prefix = `cluster-${randomUUID()}:`
  const urls = (): string[] => procs.slice(0, 3).map((p) => p.url)
  const open = async (url: string, query = ''): Promise<Client> => {
    const c = await Client.open(`${url}/rtc${query}`)
    clients.push(c)
    return c
  }
  const spread = async (pool: string, n: number): Promise<Client[]> => {
    const cs = await joinSpread(urls(), pool, n)
    clients.push(...cs)
    return cs
  }

  const start = async (): Promise<ServerProcess> => await ServerProcess.start({ ...backend.where(), prefix, ttl: TTL })

  t.before(async () => {
    await backend.start()
    for (let i = 0; i < 3; i++) procs.push(await start())
  })
  t.teardown(async () => {
    for (const c of clients) c.ws.terminate()
    await Promise.all(procs.map((p) => p.stop()))
    await backend.stop()
  })

  t.test('a pool spans three processes: rtc:joined lists the members of every process with their descriptions', async (t) => {
    const [p0, p1, p2] = urls()
    const a = await open(p0, '?name=ada')
    await a.join('span')
    const b = await open(p1, '?name=bob')
    await b.join('span')
    t.same(await a.expect('rtc:peer'), { id: b.id, description: { name: 'bob' } })
    t.same(await a.expect('rtc:describe'), { id: b.id, uid: b.id, description: { name: 'bob' } })
    const c = await open(p2, '?name=cy')
    const joined = await c.join('span')
    t.same(joined.peers, [a.id, b.id], 'members of processes 0 and 1, in join order')
    t.same(joined.descriptions, { [a.id]: { name: 'ada' }, [b.id]: { name: 'bob' }, [c.id]: { name: 'cy' } })
    for (const x of [a, b]) {
      t.same(await x.expect('rtc:peer'), { id: c.id, description: { name: 'cy' } })
      await x.expect('rtc:describe')
    }
    const info = await procs[1].call('get', 'span')
    t.same(info.members.map((m: any) => m.node), procs.slice(0, 3).map((p) => p.node), 'each member on its own process')

    // Relay in order: 300 frames from each of a and b to c, interleaved, through Redis.
    const N = 300
    a.send('rtc:sdp', { to: c.id, description: SDP })
    for (let i = 0; i < N; i++) {
      a.send('rtc:candidate', { for: c.id, candidate: { candidate: `a${i}` } })
      b.send('rtc:candidate', { for: c.id, candidate: { candidate: `b${i}` } })
    }
    const got: Record<string, number[]> = { [a.id]: [], [b.id]: [] }
    let sdp: Record<string, any> | null = null
    for (let i = 0; i < 2 * N + 1; i++) {
      const m = await c.next()
      if (m.type === 'rtc:sdp') {
        t.same(got[a.id], [], 'a\'s sdp before a\'s candidates (order per sender; b\'s may come first)')
        sdp = m.data
      } else {
        t.equal(m.type, 'rtc:candidate')
        got[m.data.from].push(Number(String(m.data.candidate.candidate).slice(1)))
      }
    }
    t.same(sdp, { peer: a.id, description: SDP })
    const inOrder = Array.from({ length: N }, (_, i) => i)
    t.same(got[a.id], inOrder, 'a (process 0) → c (process 2): all, in order')
    t.same(got[b.id], inOrder, 'b (process 1) → c (process 2): all, in order')

    // Describe from process 2, for a member connected to process 0.
    await procs[2].call('describe', a.id, { name: 'ada', role: 'host' })
    t.same(await b.expect('rtc:describe'), { id: a.id, uid: a.id, description: { name: 'ada', role: 'host' } })
    t.same(await c.expect('rtc:describe'), { id: a.id, uid: a.id, description: { name: 'ada', role: 'host' } })
    t.same(await a.sync(), [], 'not to the member described')

    // Send to a member on another process.
    await procs[0].call('send', c.id, 'note', { hi: 1 })
    t.same(await c.expect('note'), { hi: 1 })

    b.close()
    for (const x of [a, c]) t.same(await x.expect('rtc:close'), { id: b.id, uid: b.id })
    for (const x of [a, c]) t.same(await x.sync(), [], 'exactly one rtc:close')
  })

  t.test('stop: a pool created on process 0, joined on all three, closed from process 2', async (t) => {
    await procs[0].call('createPool', 'stage', { maxMembers: 10 })
    const e = await procs[1].call('createPool', 'stage').catch((err: { code: string }) => err)
    t.equal(e.code, 'FST_RTC_POOL_EXISTS', 'the name is taken cluster-wide')
    const members = await spread('stage', 6)
    t.equal((await procs[2].call('get', 'stage')).members.length, 6)
    await procs[2].call('closePool', 'stage')
    for (const m of members) {
      t.same(await m.expect('rtc:stop'), {})
      t.equal((await m.closed).code, 1000)
    }
    t.equal(await procs[0].call('get', 'stage'), null)
    const late = await open(urls()[1])
    t.same((await late.join('stage')).peers, [], 'nobody left anywhere: a later join (public servers) starts an empty pool')
  })

  t.test('kick of a member on another process: closed with 1008, its peers get one rtc:close', async (t) => {
    const [a, b, c] = await spread('kicks', 3)
    const where = await procs[0].call('get', 'kicks')
    t.equal(where.members[1].node, procs[1].node, 'b is on process 1')
    await procs[0].call('kick', b.id, 'out')
    t.same(await b.closed, { code: 1008, reason: 'out' })
    for (const x of [a, c]) t.same(await x.expect('rtc:close'), { id: b.id, uid: b.id })
    for (const x of [a, c]) t.same(await x.sync(), [])
  })

  t.test('member limit under concurrent joins on three processes: never exceeded', async (t) => {
    for (let round = 0; round < 10; round++) {
      const pool = `cap${round}`
      await procs[round % 3].call('createPool', pool, { maxMembers: 4 })
      const cs = await Promise.all(Array.from({ length: 15 }, (_, i) => open(urls()[i % 3])))
      for (const c of cs) c.send('rtc:join', { pool })
      const firsts = await Promise.all(cs.map(async (c) => await c.next()))
      const admitted = firsts.filter((m) => m.type === 'rtc:joined').length
      const full = firsts.filter((m) => m.type === 'rtc:error' && m.data.reason === 'pool-full').length
      t.equal(admitted, 4, `round ${round}: 4 admitted`)
      t.equal(full, 11, `round ${round}: 11 refused with pool-full`)
      t.equal((await procs[(round + 1) % 3].call('get', pool)).members.length, 4)
      for (const c of cs) c.close()
    }
  })

  t.test('churn across processes: members come and go while every member signals every peer it knows (rule 9)', async (t) => {
    const RELAYED = 1000
    const churners: Client[] = []
    const live: Client[] = []
    const stops: Array<() => void> = []
    t.teardown(() => { for (const stop of stops) stop() })
    let relayed = 0
    let onRelayed = (): void => {}
    const enoughRelayed = new Promise<void>((resolve) => { onRelayed = resolve })
    const deadline = Date.now() + 4000
    for (let i = 0; i < 60 && Date.now() < deadline; i++) {
      const c = await open(urls()[i % 3])
      c.ws.on('message', (data) => { if (JSON.parse(String(data)).type === 'rtc:candidate' && ++relayed === RELAYED) onRelayed() })
      stops.push(signalKnownPeers(c))
      c.send('rtc:join', { pool: 'churn' })
      // The churn's pace: the next change once this join is answered (frames flow meanwhile).
      await c.expect('rtc:joined', 10_000)
      churners.push(c)
      live.push(c)
      if (live.length > 6) live.splice(Math.floor(Math.random() * live.length), 1)[0].close()
    }
    // Settled when every member still here knows exactly the others: every join and leave has
    // reached it (frames keep flowing meanwhile).
    const idOf = (c: Client): string | undefined => c.received.find((m) => m.type === 'rtc:joined')?.data.client_id
    for (const c of live) t.ok(await until(c, () => idOf(c) !== undefined), 'joined')
    const ids = live.map((c) => idOf(c) as string)
    for (const [i, c] of live.entries()) {
      const known = trackPeers(c)
      t.ok(await until(c, () => knowsExactly(known, ids.filter((_, j) => j !== i))), 'knows exactly the members still here')
    }
    // The members still here keep signalling until enough frames have crossed (a busy machine
    // relays fewer during the churn itself).
    let timer: NodeJS.Timeout | undefined
    await Promise.race([enoughRelayed, new Promise((resolve) => { timer = setTimeout(resolve, 20_000) })])
    clearTimeout(timer)
    for (const stop of stops) stop()
    t.ok(relayed >= RELAYED, `${relayed} frames relayed during and just after the churn`)
    for (const c of churners) t.same(rule9Violations(c), [], 'nothing about a peer before it was announced, one rtc:close per peer')
    for (const c of live) c.close()
  })

  t.test('a SIGKILLed process: survivors remove its members; each peer gets exactly one rtc:close per member', async (t) => {
    const victim = await start()
    procs.push(victim)
    const [p0, p1] = urls()
    const a = await open(p0)
    await a.join('doomed')
    const b = await open(p1)
    await b.join('doomed')
    await a.expect('rtc:peer')
    const v1 = await open(victim.url)
    await v1.join('doomed')
    const v2 = await open(victim.url)
    await v2.join('doomed')
    for (const x of [a, b]) {
      t.equal((await x.expect('rtc:peer')).id, v1.id)
      t.equal((await x.expect('rtc:peer')).id, v2.id)
    }
    t.equal((await v1.expect('rtc:peer')).id, v2.id)

    const killedAt = Date.now()
    await victim.kill()
    // Its members are still in Redis until reaped: a kick for one reaches no process, is published
    // again for a while, then refused (before, it resolved and nothing happened).
    const kicked = procs[0].call('kick', v1.id, 'too late').then(() => null, (err: Error & { code?: string }) => err)
    const closedWithin = async (c: Client): Promise<number> => {
      const ids = new Set<string>()
      while (ids.size < 2) ids.add((await c.expect('rtc:close', 4 * TTL)).id)
      t.same([...ids].sort(), [v1.id, v2.id].sort())
      return Date.now() - killedAt
    }
    const times = await Promise.all([closedWithin(a), closedWithin(b)])
    const refused = await kicked
    t.equal(refused?.code, 'FST_RTC_NO_SUCH_PEER', 'a kick that no process received is refused')
    t.match(refused?.message, /received no kick/, 'the error says the member\'s process got no kick')
    const slowest = Math.max(...times)
    t.comment(`members of a SIGKILLed process announced closed after ${slowest} ms (ttl ${TTL} ms; bound ttl + ttl/3 = ${TTL + TTL / 3} ms)`)
    process.stderr.write(`cluster: SIGKILLed process's members announced closed after ${times.join(' / ')} ms (ttl ${TTL} ms)\n`)
    // Every survivor has finished a liveness round (heartbeat and reaping) begun after the removal.
    await Promise.all(procs.slice(0, 3).map(async (p) => await p.call('waitReaps', 2)))
    t.same(await a.sync(), [], 'exactly once at a')
    t.same(await b.sync(), [], 'exactly once at b')
    t.same((await procs[0].call('get', 'doomed')).members.map((m: any) => m.id), [a.id, b.id])
    a.send('rtc:sdp', { to: b.id, description: SDP })
    t.same(await b.expect('rtc:sdp'), { peer: a.id, description: SDP }, 'survivors still relay')
  })

  extra({ procs, clients, prefix, urls, open, spread })

  t.test('rule 9 held for every client of every test', async (t) => {
    for (const c of clients) t.same(rule9Violations(c), [], `client ${c.id || '(never joined)'}`)
  })
}
