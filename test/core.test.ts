// The core without Fastify: createCore() with fake sockets (an EventEmitter with the members of a
// ws WebSocket the core uses), a silent logger and a fake clock.
import { test } from 'tap'
import { EventEmitter } from 'node:events'
import type { FastifyRequest } from 'fastify'
import type { AdapterHost } from '../lib/adapters/adapter'
import { MemoryAdapter } from '../lib/adapters/memory'
import { createCore, type Core } from '../lib/core/core'
import type { Clock } from '../lib/core/clock'
import { normalizeOptions, type RtcSignalOptions } from '../lib/options'
import { candidateMessage, sdpMessage } from '../lib/protocol'
import type { MemberInfo, JoinPolicy, JoinOutcome } from '../lib/types'
import { rule9Violations } from './adapter-contract'
import { FakeClock } from './fake-clock'
import { silent, type Message, type Tap } from './helpers'

const OPEN = 1
const CLOSING = 2
const CLOSED = 3

/** The server side of a connection, as the core sees it; the test plays the client through it. */
class FakeSocket extends EventEmitter {
  readyState = OPEN
  bufferedAmount = 0
  pings = 0
  /** Answer pings (a browser does, without page code). */
  autoPong = true
  closedWith: { code: number, reason: string } | null = null
  readonly received: Message[] = []
  readonly #queue: Message[] = []
  #waiter: ((m: Message) => void) | null = null
  id = ''

  // what the core calls
  send (text: string): void {
    if (this.readyState !== OPEN) throw new Error('send on a socket that is not open')
    const m = JSON.parse(text) as Message
    this.received.push(m)
    if (this.#waiter === null) this.#queue.push(m)
    else this.#waiter(m)
  }

  ping (): void {
    this.pings++
    if (this.autoPong) setImmediate(() => this.emit('pong'))
  }

  close (code: number, reason: string): void {
    if (this.readyState !== OPEN) return
    this.readyState = CLOSING
    this.closedWith = { code, reason }
    setImmediate(() => this.#closed(code)) // the client answers the close frame
  }

  terminate (): void {
    if (this.readyState === CLOSED) return
    this.closedWith ??= { code: 1006, reason: '' }
    this.readyState = CLOSING
    setImmediate(() => this.#closed(1006))
  }

  #closed (code: number): void {
    this.readyState = CLOSED
    this.emit('close', code)
  }

  // what the test (the client) does
  frame (type: string, data: unknown = {}): void {
    this.emit('message', Buffer.from(JSON.stringify({ type, data })), false)
  }

  /** The client closes: the server sees the socket close. */
  hangUp (): void {
    if (this.readyState === CLOSED) return
    this.readyState = CLOSING
    setImmediate(() => this.#closed(1000))
  }

  async next (): Promise<Message> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return queued
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#waiter = null; reject(new Error('no frame within 5 s')) }, 5000)
      this.#waiter = (m) => { clearTimeout(timer); this.#waiter = null; resolve(m) }
    })
  }

  async expect (type: string): Promise<Record<string, any>> {
    const m = await this.next()
    if (m.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(m)}`)
    return m.data
  }

  get idle (): boolean {
    return this.#queue.length === 0
  }

  async join (pool: string): Promise<Record<string, any>> {
    this.frame('rtc:join', { pool })
    const joined = await this.expect('rtc:joined')
    this.id = joined.client_id
    return joined
  }
}

async function start (t: Tap, opts: RtcSignalOptions = {}, clock?: Clock): Promise<Core & { open: (query?: Record<string, string>) => FakeSocket }> {
  // closed at once in teardown (a drain spread over time would outlive these fake sockets' event loop)
  const core = createCore(normalizeOptions({ drain: { windowMs: 0 }, ...opts }), silent, { clock })
  await core.start()
  t.teardown(async () => {
    await core.closeAll()
    await core.dispose()
  })
  const open = (query: Record<string, string> = {}): FakeSocket => {
    const socket = new FakeSocket()
    const request = { log: silent, query, headers: {} } as unknown as FastifyRequest
    if (core.connect(socket, request, null) === null) throw new Error('refused')
    return socket
  }
  return { ...core, open }
}

/** Awaits every setImmediate queued so far (the fake sockets close on one). */
const settle = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

test('join, relay and leave through the core, without Fastify', async (t) => {
  const core = await start(t, { privatePools: false })
  const created = core.manager.once('pool-created')
  const a = core.open()
  const joinedA = await a.join('p')
  t.same(joinedA, { client_id: a.id, peers: [], descriptions: { [a.id]: null }, pool: 'p' })
  t.same(await created, { pool: 'p' })
  const b = core.open()
  t.same((await b.join('p')).peers, [a.id])
  t.same(await a.expect('rtc:peer'), { id: b.id, description: null })

  const sdp = { type: 'offer', sdp: 'v=0' }
  b.frame('rtc:sdp', { to: a.id, description: sdp })
  t.same(await a.expect('rtc:sdp'), { peer: b.id, description: sdp })
  a.frame('rtc:candidate', { for: b.id, candidate: null })
  t.same(await b.expect('rtc:candidate'), { from: a.id, candidate: null })
  a.frame('rtc:sdp', { to: 'nobody', description: sdp })
  t.match(await a.expect('rtc:error'), { reason: 'unknown-peer', to: 'nobody' })

  t.same(core.manager.stats(), { connections: 2, pools: 1 })
  t.same((await core.manager.get('p'))?.members.map((m) => m.id), [a.id, b.id])

  const left = core.manager.once('leave')
  const gone = core.manager.once('pool-closed')
  b.hangUp()
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
  t.match(await left, { pool: 'p', reason: 'closed' })
  t.equal(core.manager.endpoint(b.id), undefined, 'the closed connection is let go')
  a.hangUp()
  t.same(await gone, { pool: 'p', reason: 'empty' })
  t.same(await core.manager.list(), [])
  t.same(core.manager.stats(), { connections: 0, pools: 0 })
})

test('rule 9: nobody hears of a peer it was not told of, and of each leave once', async (t) => {
  const core = await start(t, { privatePools: false })
  const [a, b] = [core.open(), core.open()]
  await a.join('r')
  await b.join('r')
  await a.expect('rtc:peer')
  const outsider = core.open()
  outsider.frame('rtc:candidate', { for: a.id, candidate: null })
  t.match(await outsider.expect('rtc:error'), { reason: 'not-joined' }, 'no relay before joining')
  await core.manager.describe(a.id, { name: 'Ada' })
  t.same(await b.expect('rtc:describe'), { id: a.id, uid: a.id, description: { name: 'Ada' } })
  const c = core.open()
  const joined = await c.join('r')
  t.same(joined.descriptions, { [a.id]: { name: 'Ada' }, [b.id]: null, [c.id]: null }, 'a newcomer learns every description in rtc:joined')
  for (const x of [a, b]) t.equal((await x.expect('rtc:peer')).id, c.id)
  await core.manager.kick(b.id, 'bye')
  for (const x of [a, c]) t.same(await x.expect('rtc:close'), { id: b.id, uid: b.id })
  t.same(b.closedWith, { code: 1008, reason: 'bye' })
  await settle()
  for (const x of [a, b, c, outsider]) t.same(rule9Violations(x), [])
  t.ok(a.idle && c.idle, 'one rtc:close each, nothing more')
})

test('a socket that closes while its join is pending is never announced', async (t) => {
  let release!: () => void
  const hookHeld = new Promise<void>((resolve) => { release = resolve })
  let entered!: () => void
  const inHook = new Promise<void>((resolve) => { entered = resolve })
  const core = await start(t, {
    privatePools: false,
    joinHook: async (request) => {
      if ((request.query as Record<string, string>).slow === '1') {
        entered()
        await hookHeld
      }
    }
  })
  const a = core.open()
  await a.join('q')
  const slow = core.open({ slow: '1' })
  slow.frame('rtc:join', { pool: 'q' })
  await inHook
  slow.hangUp()
  await settle()
  release()
  await settle()
  t.same((await core.manager.get('q'))?.members.map((m) => m.id), [a.id])
  t.equal(a.idle, true, 'no rtc:peer, no rtc:close')
})

test('a socket gone while the adapter admits it is taken out again (rtc:peer, then rtc:close)', async (t) => {
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  let holding = false
  class HeldJoins extends MemoryAdapter {
    override async join (pool: string, member: MemberInfo, policy: JoinPolicy): Promise<JoinOutcome> {
      if (holding) await held
      return await super.join(pool, member, policy)
    }
  }
  const core = await start(t, { privatePools: false, adapter: new HeldJoins() })
  const a = core.open()
  await a.join('h')
  holding = true
  const late = core.open()
  late.frame('rtc:join', { pool: 'h' })
  await settle()
  late.hangUp()
  await settle()
  release()
  const peer = await a.expect('rtc:peer')
  t.same(await a.expect('rtc:close'), { id: peer.id, uid: peer.id }, 'the member that was admitted after its socket closed leaves again')
  t.same((await core.manager.get('h'))?.members.map((m) => m.id), [a.id])
  t.same(rule9Violations(a), [])
})

test('heartbeat on a fake clock: the silent socket is terminated, the live one pinged', async (t) => {
  const clock = new FakeClock()
  const core = await start(t, { privatePools: false, heartbeatInterval: 1000 }, clock)
  const [alive, mute] = [core.open(), core.open()]
  mute.autoPong = false
  await alive.join('hb')
  await mute.join('hb')
  await alive.expect('rtc:peer')
  clock.advance(1000)
  t.same([alive.pings, mute.pings], [1, 1], 'both pinged')
  await settle() // the pong arrives
  clock.advance(1000)
  t.same(await alive.expect('rtc:close'), { id: mute.id, uid: mute.id })
  t.same(mute.closedWith, { code: 1006, reason: '' }, 'terminated, no close frame')
  t.equal(alive.pings, 2)
  await core.closeAll()
  t.equal(clock.pending, 0, 'the interval is cleared on close')
})

test('a resumable member that misses a heartbeat is suspended, not gone; at the end of its grace period its peers get one rtc:close (fake clock)', async (t) => {
  const clock = new FakeClock()
  const core = await start(t, { privatePools: false, heartbeatInterval: 1000, resume: { graceMs: 5000 } }, clock)
  const [alive, mute] = [core.open(), core.open()]
  mute.autoPong = false
  await alive.join('hb')
  mute.frame('rtc:join', { pool: 'hb', resume: true })
  mute.id = (await mute.expect('rtc:joined')).client_id
  await alive.expect('rtc:peer')
  const events: string[] = []
  core.manager.on('suspend', () => events.push('suspend')).on('leave', ({ reason }) => events.push(`leave ${reason}`))
  clock.advance(1000)
  await settle()
  clock.advance(1000)
  await settle()
  t.same(mute.closedWith, { code: 1006, reason: '' }, 'terminated, no close frame')
  t.same(events, ['suspend'])
  alive.frame('rtc:candidate', { for: mute.id, candidate: null })
  await settle()
  t.ok(alive.idle, 'its peer sees nothing, and its relay is not refused')
  t.match((await core.manager.get('hb'))?.members.map((m) => m.state), ['connected', 'suspended'])
  for (let ms = 0; ms < 4000; ms += 1000) {
    clock.advance(1000) // the live member answers each ping
    await settle()
  }
  clock.advance(999)
  await settle()
  t.same(events, ['suspend'], 'still suspended just before graceMs')
  clock.advance(1)
  t.same(await alive.expect('rtc:close'), { id: mute.id, uid: mute.id })
  t.same(events, ['suspend', 'leave resume-expired'])
  await settle()
  t.ok(alive.idle, 'exactly one rtc:close')
  t.equal(core.stats().suspended, 0)
})

test('send() says when nothing was written or a relay was refused; a closing core turns new sockets away with 1001', async (t) => {
  const core = await start(t, { privatePools: false })
  const a = core.open()
  const endpoint = core.manager.endpoint((await a.join('s')).client_id)
  t.equal(endpoint?.send('{"type":"x","data":{}}'), 'sent')
  t.same(await a.next(), { type: 'x', data: {} })
  a.bufferedAmount = 1 << 30
  t.equal(endpoint?.send('{"type":"rtc:candidate","data":{}}', true), 'busy', 'a relayed frame with no room is refused')
  t.equal(endpoint?.send('{"type":"x","data":{}}'), 'sent', 'the server\'s own frames are always queued')
  t.same(await a.next(), { type: 'x', data: {} })
  a.bufferedAmount = 0
  a.hangUp()
  await settle()
  t.equal(endpoint?.send('{"type":"x","data":{}}'), 'closed', 'a closed socket is not reported as written')

  await core.closeAll()
  const late = new FakeSocket()
  t.equal(core.connect(late, { log: silent } as unknown as FastifyRequest, null), null)
  t.same(late.closedWith, { code: 1001, reason: 'server shutting down' })
  await core.dispose()
  await t.rejects(core.manager.createPool('x'), { code: 'FST_RTC_CLOSED' })
})

test('a frame relayed from another process to a reader with no room is dropped there; server frames still go', async (t) => {
  let host!: AdapterHost
  class Exposed extends MemoryAdapter {
    override async attach (h: AdapterHost): Promise<void> {
      host = h
      await super.attach(h)
    }
  }
  const core = await start(t, { privatePools: false, maxBufferedBytes: 200_000, adapter: new Exposed() })
  const a = core.open()
  await a.join('x')
  const remote = '00000000-0000-4000-8000-000000000000'
  a.bufferedAmount = 199_990
  host.deliver(a.id, sdpMessage(remote, { type: 'offer', sdp: 'v=0' }))
  host.deliver(a.id, candidateMessage(remote, null))
  t.ok(a.idle, 'relayed frames with no room are dropped (the sender is on another process: it cannot be told)')
  host.deliver(a.id, '{"type":"news","data":{}}')
  t.same(await a.next(), { type: 'news', data: {} }, 'an application event from server code is always queued')
  a.bufferedAmount = 0
  host.deliver(a.id, candidateMessage(remote, null))
  t.same(await a.next(), { type: 'rtc:candidate', data: { from: remote, candidate: null } }, 'with room again, relayed frames go')
})

test('slow-reader verdict on a fake clock: dropped only when the queue stays over the limit for slowReaderTimeout', async (t) => {
  const clock = new FakeClock()
  const core = await start(t, { privatePools: false, maxBufferedBytes: 200_000, slowReaderTimeout: 1000 }, clock)
  const [a, b] = [core.open(), core.open()]
  await a.join('s')
  await b.join('s')
  await a.expect('rtc:peer')
  const endpoint = core.manager.endpoint(b.id)
  b.bufferedAmount = 250_000
  endpoint?.send('{"type":"x","data":{}}') // over the limit: the clock starts
  await b.next()
  clock.advance(999)
  b.bufferedAmount = 100_000
  endpoint?.send('{"type":"x","data":{}}') // back under: the clock stops
  await b.next()
  clock.advance(10_000)
  t.equal(b.closedWith, null, 'over, then under before the timeout: kept')
  b.bufferedAmount = 250_000
  endpoint?.send('{"type":"x","data":{}}')
  await b.next()
  clock.advance(1000)
  t.same(b.closedWith, { code: 1006, reason: '' }, 'over for slowReaderTimeout: terminated')
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
})
