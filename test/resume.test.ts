import { test } from 'tap'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Client, listen, type Message } from './helpers'
import type { RtcSignalOptions } from '../lib/index'

// Resume after a blip (docs/protocol.md, "Resume after a blip"), over real sockets on loopback.

const CANDIDATE = (n: number): Record<string, unknown> => ({ candidate: `c${n}`, sdpMid: '0' })

/** A client that joined with `resume: true`: its token, and the count of frames it received (rtc:joined and rtc:resumed not counted). */
class Resumer {
  client: Client
  token = ''
  graceMs = 0
  /** Frames received by earlier sockets of this member. */
  #before = 0

  constructor (client: Client) {
    this.client = client
  }

  static async join (url: string, pool: string): Promise<Resumer> {
    const r = new Resumer(await Client.open(`${url}/rtc`))
    r.client.send('rtc:join', { pool, resume: true })
    const joined = await r.client.expect('rtc:joined')
    r.client.id = joined.client_id
    r.token = joined.resume.token
    r.graceMs = joined.resume.graceMs
    return r
  }

  get id (): string {
    return this.client.id
  }

  /** Frames counted so far, over every socket. */
  get received (): number {
    return this.#before + counted(this.client.received)
  }

  /** Cuts the TCP connection under the socket (no close frame): the server sees 1006. */
  cut (): void {
    (this.client.ws as unknown as { _socket: Socket })._socket.destroy()
  }

  /** A new socket whose first frame is rtc:resume; resolves with the answer. */
  async resume (url: string, received = this.received, token = this.token): Promise<Message> {
    // frames after `received` come again on the new socket, and are counted there
    this.#before = received
    const c = await Client.open(`${url}/rtc`)
    c.id = this.client.id
    this.client = c
    c.send('rtc:resume', { token, received })
    const m = await c.next()
    if (m.type === 'rtc:resumed') this.token = m.data.token
    return m
  }
}

function counted (frames: Message[]): number {
  return frames.filter((m) => m.type !== 'rtc:joined' && m.type !== 'rtc:resumed').length
}

async function server (t: Tap, opts: RtcSignalOptions = {}): Promise<{ app: FastifyInstance, url: string }> {
  return await listen(t, { privatePools: false, heartbeatInterval: 0, ...opts })
}

type Tap = Parameters<typeof listen>[0]

/** A resumable member `a` and a plain member `b` in pool `p`, `b` having seen `a` join. */
async function pair (url: string): Promise<{ a: Resumer, b: Client }> {
  const b = await Client.open(`${url}/rtc`)
  await b.join('p')
  const a = await Resumer.join(url, 'p')
  await b.expect('rtc:peer')
  return { a, b }
}

test('rtc:joined carries resume { token, graceMs } only for a join that asked', async (t) => {
  const { url } = await server(t, { resume: { graceMs: 5000 } })
  const plain = await Client.open(`${url}/rtc`)
  t.notOk('resume' in await plain.join('p'), 'an rtcpool-style join gets no resume field')
  const a = await Resumer.join(url, 'p')
  t.match(a.token, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/, '32 random bytes, base64url, then where it is valid')
  t.same(JSON.parse(Buffer.from(a.token.split('.')[1], 'base64url').toString()), ['p', a.id], 'its pool and member')
  t.equal(a.graceMs, 5000)
  const off = await server(t, { resume: false })
  const c = await Client.open(`${off.url}/rtc`)
  c.send('rtc:join', { pool: 'p', resume: true })
  t.notOk('resume' in await c.expect('rtc:joined'), 'resume: false: no offer')
})

test('a cut socket suspends the member; frames sent meanwhile are replayed once, in order, after rtc:resumed; peers see nothing', async (t) => {
  const { app, url } = await server(t)
  const { a, b } = await pair(url)
  b.send('rtc:candidate', { for: a.id, candidate: CANDIDATE(0) })
  t.same((await a.client.expect('rtc:candidate')).candidate, CANDIDATE(0))
  const suspended = app.rtcPools.once('suspend')
  a.cut()
  t.match(await suspended, { pool: 'p', id: a.id })
  t.match((await app.rtcPools.get('p'))?.members, [{ id: b.id, state: 'connected' }, { id: a.id, state: 'suspended' }], 'get() shows the state')
  t.same(app.rtcPools.stats().connections, 1, 'a suspended member is not a connection')
  for (let i = 1; i <= 5; i++) b.send(i % 2 === 0 ? 'rtc:sdp' : 'rtc:candidate', i % 2 === 0 ? { to: a.id, description: { type: 'offer', sdp: String(i) } } : { for: a.id, candidate: CANDIDATE(i) })
  t.same(await b.sync(), [], 'the sender is refused nothing and its peers see nothing')
  await app.rtcPools.send(a.id, 'note', { n: 6 })
  const resumedEvent = app.rtcPools.once('resume')
  const answer = await a.resume(url)
  t.equal(answer.type, 'rtc:resumed')
  t.same(answer.data.client_id, a.id, 'same id')
  t.same(answer.data.pool, 'p', 'same pool')
  t.not(answer.data.token, undefined)
  t.match(await resumedEvent, { pool: 'p', id: a.id })
  const replayed: Message[] = []
  for (let i = 0; i < 6; i++) replayed.push(await a.client.next())
  t.same(replayed.map((m) => m.type), ['rtc:candidate', 'rtc:sdp', 'rtc:candidate', 'rtc:sdp', 'rtc:candidate', 'note'])
  t.same(replayed.map((m) => m.data.candidate?.candidate ?? m.data.description?.sdp ?? m.data.n), ['c1', '2', 'c3', '4', 'c5', 6], 'in order')
  t.same(await a.client.sync(), [], 'each exactly once')
  b.send('rtc:candidate', { for: a.id, candidate: CANDIDATE(7) })
  t.same((await a.client.expect('rtc:candidate')).candidate, CANDIDATE(7), 'then live traffic')
  a.client.send('rtc:candidate', { for: b.id, candidate: CANDIDATE(8) })
  t.same(await b.expect('rtc:candidate'), { from: a.id, candidate: CANDIDATE(8) }, 'under its old id')
  t.match((await app.rtcPools.get('p'))?.members, [{ id: b.id, state: 'connected' }, { id: a.id, state: 'connected' }])
  t.same(b.received.filter((m) => m.type === 'rtc:close' || m.type === 'rtc:peer').length, 1, 'b saw a join once, and never leave')
})

test('with iceServers, a resumed member gets fresh credentials after the replay', async (t) => {
  const { app, url } = await server(t, { iceServers: [{ urls: 'turn:127.0.0.1:3478', secret: 'resume-secret', ttl: 3600 }] })
  const { a } = await pair(url)
  const suspended = app.rtcPools.once('suspend')
  a.cut()
  await suspended
  await app.rtcPools.send(a.id, 'note', { n: 1 })
  t.equal((await a.resume(url)).type, 'rtc:resumed')
  t.same((await a.client.next()).type, 'note', 'the replay first')
  const ice = await a.client.next()
  t.equal(ice.type, 'rtc:ice', 'then rtc:ice')
  t.match(ice.data.servers[0].username, new RegExp(`^\\d+:${a.id}$`), 'a credential for the same member id')
})

test('frames written into a socket that then died are replayed from the count the client gives', async (t) => {
  const { url } = await server(t)
  const { a, b } = await pair(url)
  for (let i = 0; i < 4; i++) b.send('rtc:candidate', { for: a.id, candidate: CANDIDATE(i) })
  for (let i = 0; i < 4; i++) await a.client.expect('rtc:candidate')
  // the client says it got only 2 of the 4 (the other two were in the socket when it died): they come again
  a.cut()
  const answer = await a.resume(url, 2)
  t.equal(answer.type, 'rtc:resumed')
  t.same((await a.client.expect('rtc:candidate')).candidate, CANDIDATE(2))
  t.same((await a.client.expect('rtc:candidate')).candidate, CANDIDATE(3))
  t.same(await a.client.sync(), [])
})

test('a resume while the server still holds the old socket open takes the member over (half-open)', async (t) => {
  const { app, url } = await server(t)
  const { a, b } = await pair(url)
  const old = a.client
  b.send('rtc:candidate', { for: a.id, candidate: CANDIDATE(1) })
  await old.expect('rtc:candidate')
  const events: string[] = []
  app.rtcPools.on('suspend', () => events.push('suspend')).on('resume', () => events.push('resume')).on('leave', () => events.push('leave'))
  const answer = await a.resume(url, 0)
  t.equal(answer.type, 'rtc:resumed')
  t.same((await a.client.expect('rtc:candidate')).candidate, CANDIDATE(1), 'replayed from 0')
  t.equal((await old.closed).code, 1006, 'the old socket is terminated')
  t.same(events, ['suspend', 'resume'])
  t.same(await b.sync(), [], 'peers see nothing')
})

test('grace expiry: peers get exactly one rtc:close, leave fires with resume-expired, a late resume is resume-failed', async (t) => {
  const { app, url } = await server(t, { resume: { graceMs: 100 } })
  const { a, b } = await pair(url)
  const leave = app.rtcPools.once('leave')
  a.cut()
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
  t.match(await leave, { pool: 'p', reason: 'resume-expired' })
  t.same(await b.sync(), [], 'exactly one rtc:close')
  const late = await a.resume(url)
  t.match(late, { type: 'rtc:error', data: { reason: 'resume-failed', type: 'rtc:resume' } })
  t.equal((await app.rtcPools.get('p'))?.members.length, 1)
})

test('bad, reused and malformed tokens, and a count above what was sent, are resume-failed', async (t) => {
  const { app, url } = await server(t)
  const { a } = await pair(url)
  const first = a.token
  const bad = await Client.open(`${url}/rtc`)
  bad.send('rtc:resume', { token: 'nope', received: 0 })
  t.match(await bad.next(), { type: 'rtc:error', data: { reason: 'resume-failed' } }, 'unknown token')
  bad.send('rtc:join', { pool: 'p' })
  t.equal((await bad.next()).type, 'rtc:joined', 'the socket can still join afresh')
  const malformed = await Client.open(`${url}/rtc`)
  malformed.send('rtc:resume', { token: first, received: -1 })
  t.match(await malformed.next(), { type: 'rtc:error', data: { reason: 'invalid-frame', type: 'rtc:resume' } })
  a.cut()
  await app.rtcPools.once('suspend')
  t.equal((await a.resume(url)).type, 'rtc:resumed')
  const reused = await Client.open(`${url}/rtc`)
  reused.send('rtc:resume', { token: first, received: 0 })
  t.match(await reused.next(), { type: 'rtc:error', data: { reason: 'resume-failed' } }, 'a token is single use')
  a.cut()
  await app.rtcPools.once('suspend')
  const leave = app.rtcPools.once('leave')
  const ahead = await a.resume(url, a.received + 1)
  t.match(ahead, { type: 'rtc:error', data: { reason: 'resume-failed' } }, 'received > sent')
  t.match(await leave, { reason: 'resume-failed' }, 'the member is let go at once (its client rejoins)')
  const late = await Client.open(`${url}/rtc`)
  late.send('rtc:join', { pool: 'p' })
  await late.expect('rtc:joined')
  late.send('rtc:resume', { token: a.token, received: 0 })
  t.match(await late.next(), { type: 'rtc:error', data: { reason: 'invalid-frame', type: 'rtc:resume' } }, 'rtc:resume only as the first frame')
})

test('frames held while suspended over maxFrames: the member leaves (one rtc:close) and its resume fails', async (t) => {
  const { app, url } = await server(t, { resume: { maxFrames: 3 } })
  const { a, b } = await pair(url)
  a.cut()
  await app.rtcPools.once('suspend')
  const leave = app.rtcPools.once('leave')
  for (let i = 0; i < 4; i++) b.send('rtc:candidate', { for: a.id, candidate: CANDIDATE(i) })
  t.match(await leave, { reason: 'resume-expired' })
  const rest = await b.sync()
  t.same(rest.filter((m) => m.type === 'rtc:close').map((m) => m.data.id), [a.id], 'one rtc:close')
  t.match(await a.resume(url), { type: 'rtc:error', data: { reason: 'resume-failed' } })
})

test('frames lost from the ring while connected: a resume from too far back is resume-failed', async (t) => {
  const { url } = await server(t, { resume: { maxFrames: 2 } })
  const { a, b } = await pair(url)
  for (let i = 0; i < 3; i++) b.send('rtc:candidate', { for: a.id, candidate: CANDIDATE(i) })
  for (let i = 0; i < 3; i++) await a.client.expect('rtc:candidate')
  a.cut()
  t.match(await a.resume(url, 0), { type: 'rtc:error', data: { reason: 'resume-failed' } })
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
})

test('kick and closePool end a suspended member', async (t) => {
  const { app, url } = await server(t)
  const { a, b } = await pair(url)
  a.cut()
  await app.rtcPools.once('suspend')
  const kicked = app.rtcPools.once('leave')
  await app.rtcPools.kick(a.id)
  t.match(await kicked, { reason: 'kicked' })
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
  t.match(await a.resume(url), { type: 'rtc:error', data: { reason: 'resume-failed' } }, 'its token died')

  await app.rtcPools.createPool('q')
  const c = await Resumer.join(url, 'q')
  c.cut()
  await app.rtcPools.once('suspend')
  const closed = app.rtcPools.once('leave')
  await app.rtcPools.closePool('q')
  t.match(await closed, { pool: 'q', reason: 'pool-closed' })
  t.same(app.rtcPools.stats(), { connections: 2, pools: 1 })
  t.match(await c.resume(url), { type: 'rtc:error', data: { reason: 'resume-failed' } })
})

test('the join hook is asked again on a resume; a refusal is join-denied and the member leaves', async (t) => {
  const asked: Array<{ pool: string, id: string, user: string }> = []
  const { app, url } = await server(t, {
    joinHook: (request, { pool, endpoint }) => {
      const user = (request.query as Record<string, string>).user ?? ''
      asked.push({ pool, id: endpoint.id, user })
      return user !== 'revoked'
    }
  })
  const { a, b } = await pair(url)
  a.cut()
  await app.rtcPools.once('suspend')
  // a resume with the same user is let in
  const c = await Client.open(`${url}/rtc?user=ok`)
  c.send('rtc:resume', { token: a.token, received: a.received })
  const resumed = await c.expect('rtc:resumed')
  t.same(asked.at(-1), { pool: 'p', id: a.id, user: 'ok' }, 'the hook sees the pool, the member and the new request')
  c.ws.terminate()
  await app.rtcPools.once('suspend')
  const leave = app.rtcPools.once('leave')
  const d = await Client.open(`${url}/rtc?user=revoked`)
  d.send('rtc:resume', { token: resumed.token, received: 0 })
  t.match(await d.next(), { type: 'rtc:error', data: { reason: 'join-denied', type: 'rtc:resume' } })
  t.match(await leave, { reason: 'resume-failed' })
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
})

test('failed resumes are throttled per address: over the limit, resume-failed then 1008', async (t) => {
  const { url } = await server(t, { resumeFailuresPerIp: 2 })
  for (let i = 0; i < 2; i++) {
    const c = await Client.open(`${url}/rtc`)
    c.send('rtc:resume', { token: 'guess' + i, received: 0 })
    t.match(await c.next(), { data: { reason: 'resume-failed' } })
  }
  const c = await Client.open(`${url}/rtc`)
  c.send('rtc:resume', { token: 'guess', received: 0 })
  t.match(await c.next(), { data: { reason: 'resume-failed', message: 'Too many failed resumes from this address' } })
  t.equal((await c.closed).code, 1008)
})

test('a member that did not ask to resume leaves at once when its socket is cut (rtcpool behaviour)', async (t) => {
  const { app, url } = await server(t)
  const b = await Client.open(`${url}/rtc`)
  await b.join('p')
  const a = await Client.open(`${url}/rtc`)
  await a.join('p')
  await b.expect('rtc:peer')
  const events: string[] = []
  app.rtcPools.on('suspend', () => events.push('suspend'))
  const leave = app.rtcPools.once('leave');
  (a.ws as unknown as { _socket: Socket })._socket.destroy()
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
  t.match(await leave, { reason: 'closed' })
  t.same(events, [])
})

test('a clean close (1000) of a resumable member is a leave, not a suspension', async (t) => {
  const { app, url } = await server(t)
  const { a, b } = await pair(url)
  const events: string[] = []
  app.rtcPools.on('suspend', () => events.push('suspend'))
  const leave = app.rtcPools.once('leave')
  a.client.close()
  t.match(await leave, { reason: 'closed' })
  t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
  t.same(events, [])
})
