// Resume with the Redis adapter (docs/protocol.md, "Resume after a blip"), shared by the standalone
// (resume-redis.test.ts) and cluster mode (resume-redis-cluster.test.ts) runs: apps in this process
// share one Redis. A suspended member resumes on its own process or on another one (it moves
// there, with the frames its old process held), also when its process drains; its peers see
// nothing. When the process it was on is gone, the resume fails and the peers get one rtc:close.
import { randomUUID } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import t, { type Test } from 'tap'
import type { Adapter } from '../../lib/index'
import { Client, listen } from '../helpers'
import { until } from '../browser/helpers'
import { ServerProcess, type ServerSettings } from './procs'

/** Where the apps of one test meet: a redis-server, or a Redis Cluster; `prefix` is the test's own. */
export interface ResumeBackend {
  adapter: (prefix: string, ttl?: number) => Adapter
  /** The same, for a ServerProcess. */
  process: (prefix: string, ttl: number) => ServerSettings
}

export function resumeSuite (backend: () => ResumeBackend): void {
  // A short drain: at teardown a resumable member is suspended and waits for a resume elsewhere until the deadline.
  const opts = { privatePools: false, heartbeatInterval: 0, drain: { windowMs: 0, deadlineMs: 1000 } }
  const apps = async (tt: Test, n: number, graceMs = 20_000) => {
    const prefix = `resume-${randomUUID()}:`
    const out = []
    for (let i = 0; i < n; i++) out.push(await listen(tt, { ...opts, resume: { graceMs }, adapter: backend().adapter(prefix) }))
    return { out, prefix }
  }
  /** A resumable member `a` on `on`, its peer `b` on `peer`. */
  const pair = async (on: { url: string }, peer: { url: string }) => {
    const b = await Client.open(`${peer.url}/rtc`)
    await b.join('p')
    const a = await Client.open(`${on.url}/rtc`)
    a.send('rtc:join', { pool: 'p', resume: true })
    const joined = await a.expect('rtc:joined')
    a.id = joined.client_id
    await b.expect('rtc:peer')
    return { a, b, token: joined.resume.token as string }
  }
  const cut = (c: Client): void => { (c.ws as unknown as { _socket: Socket })._socket.destroy() }

  t.test('frames relayed from another process while suspended are held and replayed on resume; the peer sees nothing', async (tt) => {
    const { out: [one, two] } = await apps(tt, 2)
    const { a, b, token } = await pair(one, two)
    const suspended = one.app.rtcPools.once('suspend')
    cut(a)
    await suspended
    tt.match((await one.app.rtcPools.get('p'))?.members.find((m) => m.id === a.id), { state: 'suspended' })
    for (let i = 0; i < 5; i++) b.send('rtc:candidate', { for: a.id, candidate: { i } })
    tt.same(await b.sync(), [], 'relayed without a refusal, and no rtc:close')
    const c = await Client.open(`${one.url}/rtc`)
    c.send('rtc:resume', { token, received: 0 })
    tt.equal((await c.expect('rtc:resumed')).client_id, a.id)
    for (let i = 0; i < 5; i++) tt.same(await c.expect('rtc:candidate'), { from: b.id, candidate: { i } })
    c.send('rtc:candidate', { for: b.id, candidate: { back: true } })
    tt.same(await b.expect('rtc:candidate'), { from: a.id, candidate: { back: true } }, 'live again, both ways')
    tt.same(await c.sync(), [])
  })

  t.test('a resume on another process: the member moves there with the frames held for it, exactly once and in order; nobody sees it', async (tt) => {
    const { out: [one, two, three] } = await apps(tt, 3)
    const { a, b, token } = await pair(one, two)
    const d = await Client.open(`${one.url}/rtc`) // a peer on the member's own process
    await d.join('p')
    await a.expect('rtc:peer')
    await b.expect('rtc:peer')
    const leaves: string[] = []
    for (const { app } of [one, two, three]) app.rtcPools.on('leave', ({ endpoint }) => leaves.push(endpoint.id))
    const suspended = one.app.rtcPools.once('suspend')
    cut(a)
    await suspended
    for (let i = 0; i < 3; i++) {
      b.send('rtc:candidate', { for: a.id, candidate: { from: 'b', i } })
      d.send('rtc:candidate', { for: a.id, candidate: { from: 'd', i } })
    }
    tt.same(await b.sync(), [])
    tt.same(await d.sync(), [])
    for (const { app } of [one, two, three]) {
      tt.match((await app.rtcPools.get('p'))?.members.find((m) => m.id === a.id), { state: 'suspended' }, 'suspended, as every process sees it')
    }
    const resumedOnThree = three.app.rtcPools.once('resume')
    const movedFromOne = one.app.rtcPools.once('moved')
    const c = await Client.open(`${three.url}/rtc`)
    c.send('rtc:resume', { token, received: 1 }) // it had d's rtc:peer
    const resumed = await c.expect('rtc:resumed')
    tt.match(resumed, { client_id: a.id, pool: 'p' })
    tt.not(resumed.token, token, 'a new token')
    tt.equal((await resumedOnThree).id, a.id, 'the resume event fires where it resumed')
    tt.match(await movedFromOne, { id: a.id, pool: 'p', node: three.app.rtcPools.node }, 'the moved event where it was')
    const got: Record<string, number[]> = { b: [], d: [] }
    for (let i = 0; i < 6; i++) {
      const { candidate } = await c.expect('rtc:candidate')
      got[candidate.from].push(candidate.i)
    }
    tt.same(got, { b: [0, 1, 2], d: [0, 1, 2] }, 'every held frame once, each sender in order')
    // Live on three: both ways, with the peer on one and on two.
    b.send('rtc:candidate', { for: a.id, candidate: { after: 'b' } })
    d.send('rtc:candidate', { for: a.id, candidate: { after: 'd' } })
    const after = [await c.expect('rtc:candidate'), await c.expect('rtc:candidate')]
    tt.same(after.map((m) => m.candidate.after).sort(), ['b', 'd'])
    c.send('rtc:candidate', { for: b.id, candidate: { back: 1 } })
    c.send('rtc:candidate', { for: d.id, candidate: { back: 2 } })
    tt.same(await b.expect('rtc:candidate'), { from: a.id, candidate: { back: 1 } })
    tt.same(await d.expect('rtc:candidate'), { from: a.id, candidate: { back: 2 } })
    tt.same(await b.sync(), [], 'no rtc:close, no rtc:peer')
    tt.same(await d.sync(), [], 'no rtc:close, no rtc:peer')
    tt.same(await c.sync(), [])
    tt.same(leaves, [], 'no leave event anywhere')
    for (const { app } of [one, two, three]) {
      tt.match((await app.rtcPools.list())[0].members.find((m) => m.id === a.id), { state: 'connected' }, 'connected again, everywhere')
    }
    const info = await two.app.rtcPools.get('p')
    tt.equal(info?.members.find((m) => m.id === a.id)?.node, three.app.rtcPools.node, 'the cluster has it on three')
    tt.equal(info?.members.length, 3)
    tt.notOk((await one.app.rtcPools.get('p'))?.members.some((m) => m.state === 'suspended'), 'nothing left suspended on one')
    // The new token works again (on one, the process it left).
    const resumedOnOne = one.app.rtcPools.once('resume')
    cut(c)
    const c2 = await Client.open(`${one.url}/rtc`)
    c2.send('rtc:resume', { token: resumed.token, received: 1 + 6 + 2 + 1 }) // d's rtc:peer, 6 held, 2 live, the probe's error
    tt.equal((await c2.expect('rtc:resumed')).client_id, a.id)
    await resumedOnOne
    tt.same(await c2.sync(), [], 'nothing to replay')
    b.send('rtc:candidate', { for: a.id, candidate: { last: true } })
    tt.same(await c2.expect('rtc:candidate'), { from: b.id, candidate: { last: true } })
  })

  t.test('a sender whose process hears of the move late: its frames stay in order (its fence comes through the old process)', async (tt) => {
    const prefix = `resume-${randomUUID()}:`
    const adapters = [backend().adapter(prefix), backend().adapter(prefix), backend().adapter(prefix)]
    const servers = []
    for (const adapter of adapters) servers.push(await listen(tt, { ...opts, resume: {}, adapter }))
    const [one, two, three] = servers
    // Each process applies cluster events in order from its stream; holding it stands for a process that lags.
    const stream = (i: number): { hold: () => void, release: () => void, queue: unknown[] } => (adapters[i] as any).stream
    const { a, b, token } = await pair(one, two)
    const suspended = one.app.rtcPools.once('suspend')
    cut(a)
    await suspended
    stream(1).hold() // two (the sender's process) will hear of the move late
    const handedOver = new Promise<void>((resolve) => {
      const seen = (fact: any): void => {
        if (fact.event !== 'handover' || fact.node !== one.app.rtcPools.node) return
        diagnostics.unsubscribe('fastify-rtc-signal:resume', seen)
        resolve()
      }
      diagnostics.subscribe('fastify-rtc-signal:resume', seen)
    })
    const c = await Client.open(`${three.url}/rtc`)
    c.send('rtc:resume', { token, received: 0 })
    await handedOver
    stream(0).hold() // what two sends one from now on waits there
    for (const i of [1, 2]) b.send('rtc:candidate', { for: a.id, candidate: { i } }) // two still sends them to one
    tt.same(await b.sync(), [])
    await until('two to have the move event queued', async () => stream(1).queue.length > 0 || null, 5000, 5)
    stream(1).release() // two applies the move: its fence goes to one, behind 1 and 2
    b.send('rtc:candidate', { for: a.id, candidate: { i: 3 } }) // straight to three
    tt.same(await b.sync(), [])
    stream(0).release() // one passes on 1, 2, then two's fence
    tt.equal((await c.expect('rtc:resumed')).client_id, a.id)
    const got = []
    for (let i = 0; i < 3; i++) got.push((await c.expect('rtc:candidate')).candidate.i)
    tt.same(got, [1, 2, 3], 'in the order sent')
    tt.same(await c.sync(), [])
    tt.same(await b.sync(), [], 'the peer saw nothing')
  })

  t.test('a token is single use across processes, and a wrong or missing one names nobody', async (tt) => {
    const { out: [one, two] } = await apps(tt, 2)
    const { a, b, token } = await pair(one, two)
    const suspended = one.app.rtcPools.once('suspend')
    cut(a)
    await suspended
    const forged = `${'A'.repeat(43)}.${token.split('.')[1]}`
    const naming = (pool: string, id: string): string => `x.${Buffer.from(JSON.stringify([pool, id])).toString('base64url')}`
    for (const bad of [forged, 'garbage', naming('p', b.id), naming('', a.id), naming('p'.repeat(1000), a.id)]) {
      const x = await Client.open(`${two.url}/rtc`)
      x.send('rtc:resume', { token: bad, received: 0 })
      tt.match(await x.next(), { type: 'rtc:error', data: { reason: 'resume-failed' } }, bad.slice(0, 12))
      x.send('rtc:join', { pool: 'p' })
      tt.not((await x.expect('rtc:joined')).client_id, a.id, 'the connection goes on with its own id')
      await b.expect('rtc:peer')
      x.close()
      await b.expect('rtc:close')
    }
    const c = await Client.open(`${two.url}/rtc`)
    c.send('rtc:resume', { token, received: 0 })
    tt.equal((await c.expect('rtc:resumed')).client_id, a.id)
    const again = await Client.open(`${one.url}/rtc`)
    again.send('rtc:resume', { token, received: 0 })
    tt.match(await again.next(), { type: 'rtc:error', data: { reason: 'resume-failed' } }, 'used once already')
    tt.same(await b.sync(), [])
  })

  t.test('a drained process hands its suspended members over: they resume elsewhere, close() returns once they have', async (tt) => {
    const prefix = `resume-${randomUUID()}:`
    const one = await listen(tt, { ...opts, drain: {}, resume: {}, adapter: backend().adapter(prefix) })
    const two = await listen(tt, { ...opts, resume: {}, adapter: backend().adapter(prefix) })
    const { a, b, token } = await pair(one, two)
    b.send('rtc:candidate', { for: a.id, candidate: { before: true } })
    await a.expect('rtc:candidate')
    const closing = one.app.close()
    const { code } = await a.closed
    tt.equal(code, 1012, 'service restart')
    for (let i = 0; i < 3; i++) b.send('rtc:candidate', { for: a.id, candidate: { i } })
    tt.same(await b.sync(), [])
    const c = await Client.open(`${two.url}/rtc`)
    c.send('rtc:resume', { token, received: 1 })
    tt.equal((await c.expect('rtc:resumed')).client_id, a.id)
    for (let i = 0; i < 3; i++) tt.same(await c.expect('rtc:candidate'), { from: b.id, candidate: { i } })
    await closing
    tt.same(await b.sync(), [], 'the peer saw nothing of the restart')
    tt.same((await two.app.rtcPools.get('p'))?.members.map((m) => m.node), [two.app.rtcPools.node, two.app.rtcPools.node])
  })

  t.test('a resume asking for frames no longer held is resume-failed; the member leaves (one rtc:close) and the connection goes on', async (tt) => {
    const { out: [one, two] } = await apps(tt, 2)
    const { a, b, token } = await pair(one, two)
    const suspended = one.app.rtcPools.once('suspend')
    cut(a)
    await suspended
    const c = await Client.open(`${two.url}/rtc`)
    c.send('rtc:resume', { token, received: 5 }) // more than it was ever sent
    tt.match(await c.next(), { type: 'rtc:error', data: { reason: 'resume-failed' } })
    tt.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
    c.send('rtc:join', { pool: 'p' })
    const joined = await c.expect('rtc:joined')
    tt.not(joined.client_id, a.id)
    tt.same(joined.peers, [b.id])
    tt.same((await b.expect('rtc:peer')).id, joined.client_id)
    tt.same(await b.sync(), [], 'exactly one rtc:close')
  })

  t.test('the process the member was on was SIGKILLed: resume-failed, never a silent gap; its peers get one rtc:close', async (tt) => {
    const prefix = `resume-${randomUUID()}:`
    const proc = await ServerProcess.start(backend().process(prefix, 1500))
    tt.teardown(() => proc.kill())
    const two = await listen(tt, { ...opts, resume: {}, adapter: backend().adapter(prefix, 1500) })
    const { a, b, token } = await pair(proc, two)
    await proc.kill()
    cut(a)
    const c = await Client.open(`${two.url}/rtc`)
    c.send('rtc:resume', { token, received: 0 })
    tt.match(await c.next(10_000), { type: 'rtc:error', data: { reason: 'resume-failed' } }, 'its frames cannot be known')
    tt.same(await b.expect('rtc:close', 15_000), { id: a.id, uid: a.id }, 'reaped once its liveness expired')
    tt.same(await b.sync(), [], 'exactly one')
  })

  t.test('a resume on another process is asked of the join hook again, which may refuse it', async (tt) => {
    const prefix = `resume-${randomUUID()}:`
    const one = await listen(tt, { ...opts, resume: {}, adapter: backend().adapter(prefix) })
    const two = await listen(tt, {
      ...opts,
      resume: {},
      adapter: backend().adapter(prefix),
      joinHook: (request) => (request.query as { deny?: string }).deny === undefined
    })
    const { a, b, token } = await pair(one, two)
    const suspended = one.app.rtcPools.once('suspend')
    cut(a)
    await suspended
    const c = await Client.open(`${two.url}/rtc?deny=1`)
    c.send('rtc:resume', { token, received: 0 })
    tt.match(await c.next(), { type: 'rtc:error', data: { reason: 'join-denied' } })
    tt.same(await b.expect('rtc:close'), { id: a.id, uid: a.id }, 'refused: it leaves')
    tt.same(await b.sync(), [])
  })
}
