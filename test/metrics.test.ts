// The metrics option and the diagnostics channels behind it: a real prom-client registry, real
// sockets. Counters are compared whole (every label value, zeros included); frame counts against
// what the test's own clients sent and received.
import { test } from 'tap'
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { mock } from 'node:test'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import { Registry, type Metric } from 'prom-client'
import WebSocket from 'ws'
import rtcSignal, { CHANNELS, MemoryAdapter, REASONS, type AdapterFact, type ConnectionFact, type FrameKind, type HeartbeatFact, type JoinFact, type LeaveFact } from '../lib/index'
import { receivedKind, sentKind } from '../lib/core/diagnostics'
import { Negotiations, type MetricsClock, type NegotiationOutcome } from '../lib/metrics/negotiations'
import {
  STOP_MESSAGE, candidateMessage, closeMessage, describeMessage, errorMessage, eventMessage, joinedMessage, peerMessage, sdpMessage
} from '../lib/protocol'
import { Client, joinAll, listen, type Tap } from './helpers'

// ---------------------------------------------------------------------------------------------
// Reading the registry

interface Sample { value: number, labels: Record<string, string | number>, metricName?: string }

async function samples (registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name) as Metric | undefined
  if (metric === undefined) throw new Error(`no metric ${name}`)
  return (await metric.get()).values as Sample[]
}

/** A counter or gauge as `{ 'label=value,...': n }` ('' for no labels). */
async function counts (registry: Registry, name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const s of await samples(registry, name)) out[Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',')] = s.value
  return out
}

/** Every value of `label` at 0, then `given`. */
function expected (label: string, values: readonly string[], given: Record<string, number> = {}): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of values) out[`${label}=${v}`] = 0
  for (const [v, n] of Object.entries(given)) out[`${label}=${v}`] = n
  return out
}

/** A histogram's count and sum for one label set. */
async function observed (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<{ count: number, sum: number }> {
  const matches = (s: Sample): boolean => Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  const all = await samples(registry, name)
  const count = all.find((s) => s.metricName === `${name}_count` && matches(s))?.value ?? 0
  const sum = all.find((s) => s.metricName === `${name}_sum` && matches(s))?.value ?? 0
  return { count, sum }
}

// ---------------------------------------------------------------------------------------------
// Facts, as a tracing subscriber sees them

/** Resolves with the next fact on `channel` that passes `match`. */
function nextFact<T> (channel: string, match: (fact: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (message: unknown): void => {
      if (!match(message as T)) return
      setImmediate(() => diagnostics.unsubscribe(channel, listener))
      resolve(message as T)
    }
    diagnostics.subscribe(channel, listener)
  })
}

/** Every fact published on every channel while the test runs. */
function recordFacts (t: Tap): Array<{ channel: string, fact: Record<string, unknown> }> {
  const seen: Array<{ channel: string, fact: Record<string, unknown> }> = []
  for (const channel of Object.values(CHANNELS)) {
    const listener = (message: unknown): void => { seen.push({ channel, fact: message as Record<string, unknown> }) }
    diagnostics.subscribe(channel, listener)
    t.teardown(() => diagnostics.unsubscribe(channel, listener))
  }
  return seen
}

// ---------------------------------------------------------------------------------------------
// What the clients sent and received, classified independently of the server's code

const KINDS: readonly FrameKind[] = ['sdp', 'candidate', 'join', 'event', 'other']

class Traffic {
  readonly frames = { in: new Map<FrameKind, number>(KINDS.map((k) => [k, 0])), out: new Map<FrameKind, number>(KINDS.map((k) => [k, 0])) }
  readonly bytes = { in: 0, out: 0 }

  /** Counts what `client` sends (the server's `in`) and receives (its `out`). */
  track (client: Client): Client {
    const ws = client.ws
    const send = ws.send.bind(ws) as (data: unknown, options?: unknown) => void
    ws.send = ((data: string | Buffer, options?: { binary?: boolean }) => {
      this.count('in', options?.binary === true ? 'other' : sentByClient(String(data)), Buffer.byteLength(data))
      send(data, options)
    }) as typeof ws.send
    ws.on('message', (data: Buffer) => this.count('out', sentByServer(JSON.parse(data.toString()).type), data.length))
    return client
  }

  count (direction: 'in' | 'out', kind: FrameKind, bytes: number): void {
    this.frames[direction].set(kind, (this.frames[direction].get(kind) ?? 0) + 1)
    this.bytes[direction] += bytes
  }

  /** As `counts()` of frames_total reads. */
  framesTotal (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const direction of ['in', 'out'] as const) for (const [kind, n] of this.frames[direction]) out[`direction=${direction},type=${kind}`] = n
    return out
  }
}

function sentByClient (text: string): FrameKind {
  let frame: unknown
  try { frame = JSON.parse(text) } catch { return 'other' }
  const type = typeof frame === 'object' && frame !== null && !Array.isArray(frame) ? (frame as { type?: unknown }).type : undefined
  if (typeof type !== 'string' || type === '') return 'other'
  if (type === 'rtc:join') return 'join'
  if (type === 'rtc:sdp') return 'sdp'
  if (type === 'rtc:candidate') return 'candidate'
  return type.startsWith('rtc:') ? 'other' : 'event'
}

function sentByServer (type: string): FrameKind {
  if (type === 'rtc:joined') return 'join'
  if (type === 'rtc:sdp') return 'sdp'
  if (type === 'rtc:candidate') return 'candidate'
  return type.startsWith('rtc:') ? 'other' : 'event'
}

/** The HTTP status of a refused upgrade. */
async function refusedStatus (url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers })
  ws.on('error', () => {})
  const [, res] = await once(ws, 'unexpected-response')
  ws.terminate()
  return res.statusCode
}

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nSECRET-SDP\r\n' }
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\nSECRET-SDP\r\n' }
const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host SECRET-CANDIDATE', sdpMid: '0', sdpMLineIndex: 0 }
const JOIN_RESULTS = ['ok', 'invalid-frame', 'missing-pool', 'join-denied', 'no-such-pool', 'pool-full', 'already-joined']
const LEAVE_REASONS = ['closed', 'heartbeat', 'kicked', 'slow-reader', 'rate-limited', 'pool-closed', 'shutdown', 'error', 'resume-expired', 'resume-failed']
const RESUME_RESULTS = ['resumed', 'unknown-token', 'expired', 'frames-lost', 'denied', 'throttled']
const CONNECTION_RESULTS = ['accepted', 'origin-denied', 'auth-denied', 'bad-request', 'not-found', 'upgrade-required', 'limit', 'shutting-down', 'other']

// ---------------------------------------------------------------------------------------------

test('a scripted session: every counter has exactly the expected value', async (t) => {
  const registry = new Registry()
  const facts = recordFacts(t)
  const { app, url } = await listen(t, {
    metrics: { registry },
    maxPoolNameLength: 8,
    allowedOrigins: ['https://app.example'],
    joinHook: (_request, { pool }) => pool !== 'secret',
    routeOptions: {
      onRequest: async (request, reply) => {
        if ((request.query as Record<string, string>).token === 'SECRET-TOKEN') await reply.code(401).send({ error: 'Unauthorized' })
      }
    }
  })
  await app.rtcPools.createPool('room', { maxMembers: 2 })
  await app.rtcPools.createPool('guarded', { allows: () => false })
  await app.rtcPools.createPool('doomed')
  const traffic = new Traffic()
  const open = async (): Promise<Client> => traffic.track(await Client.open(`${url}/rtc`))

  // Connections: five accepted, three refused before the upgrade.
  const [a, b, c, d, e] = await Promise.all([open(), open(), open(), open(), open()])
  for (const [status, headers, path, result] of [
    [403, { origin: 'https://evil.example' }, '/rtc', 'origin-denied'],
    [401, {}, '/rtc?token=SECRET-TOKEN', 'auth-denied'],
    [400, {}, '/rtc/much-too-long', 'bad-request']
  ] as const) {
    const fact = nextFact<ConnectionFact>(CHANNELS.connection, (f) => f.event === 'refused')
    t.equal(await refusedStatus(url + path, headers), status)
    t.match(await fact, { node: app.rtcPools.node, event: 'refused', result, statusCode: status }, `${result} is published`)
  }

  // Joins: four ok, one of each refusal.
  await a.join('room')
  await b.join('room')
  await a.expect('rtc:peer')
  const refusal = async (client: Client, reason: string): Promise<void> => {
    t.equal((await client.expect('rtc:error')).reason, reason)
  }
  c.send('rtc:join', { pool: 'room' })
  await refusal(c, 'pool-full')
  c.send('rtc:join', { pool: 'nowhere' })
  await refusal(c, 'no-such-pool')
  c.send('rtc:join', { pool: 'secret' })
  await refusal(c, 'join-denied')
  c.send('rtc:join', { pool: 'guarded' })
  await refusal(c, 'join-denied')
  c.send('rtc:join', {})
  await refusal(c, 'missing-pool')
  c.sendRaw('{"type":"rtc:join","data":"room"}')
  await refusal(c, 'invalid-frame')
  a.send('rtc:join', { pool: 'room' })
  await refusal(a, 'already-joined')
  await d.join('doomed')
  await e.join('doomed')
  await d.expect('rtc:peer')

  // Relay: an answered offer, candidates; an offer left open until its pool closes.
  a.send('rtc:sdp', { to: b.id, description: OFFER })
  await b.expect('rtc:sdp')
  b.send('rtc:sdp', { to: a.id, description: ANSWER })
  await a.expect('rtc:sdp')
  a.send('rtc:candidate', { for: b.id, candidate: CANDIDATE })
  a.send('rtc:candidate', { for: b.id, candidate: null })
  await b.expect('rtc:candidate')
  await b.expect('rtc:candidate')
  d.send('rtc:sdp', { to: e.id, description: OFFER })
  await e.expect('rtc:sdp')

  // Bad frames, and an application event (no error).
  c.send('rtc:sdp', { to: a.id, description: OFFER })
  await refusal(c, 'not-joined')
  a.send('rtc:sdp', { description: OFFER })
  await refusal(a, 'missing-target')
  a.send('rtc:candidate', { for: 'nobody', candidate: null })
  await refusal(a, 'unknown-peer')
  a.send('rtc:sdp', { to: b.id, description: 'SECRET-SDP' })
  await refusal(a, 'invalid-description')
  a.send('rtc:candidate', { for: b.id })
  await refusal(a, 'invalid-frame')
  c.sendRaw('not json')
  await refusal(c, 'invalid-json')
  c.sendRaw('[]')
  await refusal(c, 'invalid-frame')
  c.sendRaw('{"type":"rtc:sdp"}', true)
  await refusal(c, 'invalid-frame')
  c.send('rtc:leave')
  await refusal(c, 'unknown-action')
  const event = app.rtcPools.once('event')
  c.send('hello', { text: 'hi' })
  await event

  // Leaves: closed, kicked, pool-closed (twice, which abandons d's open offer).
  const gone = [a, b, d, e].map(async (client) => await nextFact<ConnectionFact>(CHANNELS.connection, (f) => f.event === 'close' && f.peer === client.id))
  b.close()
  t.same(await a.expect('rtc:close'), { id: b.id, uid: b.id })
  const kicked = nextFact<LeaveFact>(CHANNELS.leave, (f) => f.reason === 'kicked')
  await app.rtcPools.kick(a.id)
  t.equal((await a.closed).code, 1008)
  await kicked
  await app.rtcPools.closePool('doomed')
  await d.expect('rtc:stop')
  await e.expect('rtc:stop')
  await Promise.all(gone)

  t.same(await counts(registry, 'rtc_signal_connections_total'), expected('result', CONNECTION_RESULTS, {
    accepted: 5, 'origin-denied': 1, 'auth-denied': 1, 'bad-request': 1
  }))
  t.same(await counts(registry, 'rtc_signal_joins_total'), expected('result', JOIN_RESULTS, {
    ok: 4, 'pool-full': 1, 'no-such-pool': 1, 'join-denied': 2, 'missing-pool': 1, 'invalid-frame': 1, 'already-joined': 1
  }))
  t.same(await counts(registry, 'rtc_signal_errors_total'), expected('reason', REASONS, {
    'pool-full': 1,
    'no-such-pool': 1,
    'join-denied': 2,
    'missing-pool': 1,
    'already-joined': 1,
    'invalid-frame': 4,
    'not-joined': 1,
    'missing-target': 1,
    'unknown-peer': 1,
    'invalid-description': 1,
    'invalid-json': 1,
    'unknown-action': 1
  }))
  t.same(await counts(registry, 'rtc_signal_leaves_total'), expected('reason', LEAVE_REASONS, { closed: 1, kicked: 1, 'pool-closed': 2 }))
  t.same(await counts(registry, 'rtc_signal_frames_total'), traffic.framesTotal(), 'frames: what the clients sent and received, by kind')
  t.same(await counts(registry, 'rtc_signal_frame_bytes_total'), { 'direction=in': traffic.bytes.in, 'direction=out': traffic.bytes.out })
  t.equal(traffic.frames.in.get('sdp'), 6, 'the script did send sdp frames (the comparison is not of zeros)')
  t.same(await counts(registry, 'rtc_signal_ice_credentials_issued_total'), { '': 0 }, 'no iceServers option: no ICE servers issued')
  t.same(Object.values(await counts(registry, 'rtc_signal_adapter_errors_total')).filter((n) => n !== 0), [], 'no adapter error')
  t.same(await counts(registry, 'rtc_signal_negotiation_evictions_total'), { '': 0 })

  const joins = await observed(registry, 'rtc_signal_join_seconds')
  t.ok(joins.count === 4 && joins.sum > 0, 'four joins timed')
  t.equal((await observed(registry, 'rtc_signal_hook_seconds', { hook: 'join-hook' })).count, 8, 'the join hook answered 8 joins (not the malformed ones)')
  t.equal((await observed(registry, 'rtc_signal_hook_seconds', { hook: 'allows' })).count, 1)
  t.equal((await observed(registry, 'rtc_signal_negotiation_seconds', { outcome: 'answered' })).count, 1)
  t.equal((await observed(registry, 'rtc_signal_negotiation_seconds', { outcome: 'abandoned' })).count, 1, 'the open offer of a closed pool')
  t.equal((await observed(registry, 'rtc_signal_negotiation_seconds', { outcome: 'timeout' })).count, 0)

  t.same(await counts(registry, 'rtc_signal_connections'), { '': 1 }, 'c is still open')
  t.same(await counts(registry, 'rtc_signal_members'), { '': 0 })
  t.same(await counts(registry, 'rtc_signal_pools'), { '': 2 }, 'room and guarded live until closed')
  t.same(await counts(registry, 'rtc_signal_draining'), { '': 0 })
  t.same(await counts(registry, 'rtc_signal_suspended_members'), { '': 0 })
  t.same(await counts(registry, 'rtc_signal_resumes_total'), expected('result', RESUME_RESULTS), 'no client asked to resume')

  // Tracing: the facts name ids and pools, never an SDP, a candidate or a token.
  const text = JSON.stringify(facts.map((f) => f.fact))
  t.notMatch(text, /SECRET/, 'no SDP, candidate or token in any fact')
  t.ok(facts.every((f) => f.fact.node === app.rtcPools.node), 'every fact names its server')
  t.match(facts.find((f) => f.channel === CHANNELS.join && f.fact.peer === d.id), { fact: { pool: 'doomed', result: 'ok', seconds: Number } })
  t.match(facts.filter((f) => f.channel === CHANNELS.relay).map((f) => f.fact), [
    { pool: 'room', from: a.id, to: b.id, type: 'sdp', sdpType: 'offer', local: true },
    { pool: 'room', from: b.id, to: a.id, type: 'sdp', sdpType: 'answer', local: true },
    { type: 'candidate', sdpType: null },
    { type: 'candidate', sdpType: null },
    { pool: 'doomed', from: d.id, to: e.id, sdpType: 'offer' }
  ])
  t.match(facts.filter((f) => f.channel === CHANNELS.hook && f.fact.pool === 'secret').map((f) => f.fact), [{ hook: 'join-hook', result: 'denied', seconds: Number }])
  t.match(facts.filter((f) => f.channel === CHANNELS.error && f.fact.reason === 'unknown-action').map((f) => f.fact), [{ peer: String, type: 'rtc:leave' }])
})

test('an offer unanswered for negotiationTimeout counts one timeout; a full table evicts the oldest', async (t) => {
  // Fake setInterval and Date: the sweep runs when the test says so, on the test's time.
  mock.timers.enable({ apis: ['setInterval', 'Date'] })
  t.teardown(() => { mock.timers.reset() })
  const registry = new Registry()
  const { url } = await listen(t, { privatePools: false, metrics: { registry, negotiationTimeout: 5000, maxOpenOffers: 2 } })
  const [a, b, c] = await joinAll(url, 'n', 3)
  a.send('rtc:sdp', { to: b.id, description: OFFER })
  await b.expect('rtc:sdp')
  mock.timers.tick(4000)
  a.send('rtc:sdp', { to: b.id, description: OFFER }) // a second offer on the same pair keeps the first one's start
  await b.expect('rtc:sdp')
  mock.timers.tick(1000)
  t.same(await observed(registry, 'rtc_signal_negotiation_seconds', { outcome: 'timeout' }), { count: 1, sum: 5 }, 'one timeout, after 5 s')
  b.send('rtc:sdp', { to: a.id, description: ANSWER })
  await a.expect('rtc:sdp')
  t.equal((await observed(registry, 'rtc_signal_negotiation_seconds', { outcome: 'answered' })).count, 0, 'an answer to an offer already timed out is not counted')

  // Three open offers in a table of two: the oldest goes.
  for (const [from, to] of [[a, b], [a, c], [b, c]] as const) {
    from.send('rtc:sdp', { to: to.id, description: OFFER })
    await to.expect('rtc:sdp')
  }
  t.same(await counts(registry, 'rtc_signal_negotiation_evictions_total'), { '': 1 })
  c.send('rtc:sdp', { to: b.id, description: ANSWER })
  await b.expect('rtc:sdp')
  t.same(await observed(registry, 'rtc_signal_negotiation_seconds', { outcome: 'answered' }), { count: 1, sum: 0 })
})

test('heartbeat round trips are observed', async (t) => {
  mock.timers.enable({ apis: ['setInterval'] })
  t.teardown(() => { mock.timers.reset() })
  const registry = new Registry()
  const { app, url } = await listen(t, { privatePools: false, heartbeatInterval: 30_000, metrics: { registry } })
  const a = await Client.open(`${url}/rtc`)
  await a.join('hb')
  const pong = nextFact<HeartbeatFact>(CHANNELS.heartbeat)
  mock.timers.tick(30_000)
  t.match(await pong, { node: app.rtcPools.node, peer: a.id, seconds: Number })
  t.equal((await observed(registry, 'rtc_signal_heartbeat_rtt_seconds')).count, 1)
})

test('ICE servers issued to joining members are counted and traced, without their credentials', async (t) => {
  const registry = new Registry()
  const facts = recordFacts(t)
  const { app, url } = await listen(t, {
    privatePools: false,
    iceServers: [{ urls: 'stun:stun.example.org' }, { urls: 'turn:turn.example.org', secret: 'SECRET-ICE', ttl: 600 }],
    metrics: { registry }
  })
  const [a, b] = await joinAll(url, 'ice', 2)
  t.same(await counts(registry, 'rtc_signal_ice_credentials_issued_total'), { '': 2 }, 'one set per joining member')
  const ice = facts.filter((f) => f.channel === CHANNELS.ice).map((f) => f.fact)
  t.match(ice, [
    { node: app.rtcPools.node, peer: a.id, servers: 2, expiresAt: Number },
    { node: app.rtcPools.node, peer: b.id, servers: 2, expiresAt: Number }
  ])
  t.notMatch(JSON.stringify(facts.map((f) => f.fact)), /SECRET|credential|username/, 'no secret or credential in any fact')
})

test('a failed adapter call is counted by operation and traced with its error', async (t) => {
  class FailingAdapter extends MemoryAdapter {
    override async describe (): Promise<void> {
      throw new Error('bus down')
    }
  }
  const registry = new Registry()
  const { app, url } = await listen(t, { privatePools: false, adapter: new FailingAdapter(), metrics: { registry } })
  const a = await Client.open(`${url}/rtc`)
  await a.join('p')
  const fact = nextFact<AdapterFact>(CHANNELS.adapter)
  await t.rejects(app.rtcPools.describe(a.id, { name: 'Ada' }), { message: 'bus down' }, 'the caller sees the adapter\'s own error')
  t.match(await fact, { node: app.rtcPools.node, op: 'describe', error: { message: 'bus down' } })
  const errors = await counts(registry, 'rtc_signal_adapter_errors_total')
  t.equal(errors['op=describe'], 1)
  t.same(Object.values(errors).reduce((sum, n) => sum + n, 0), 1, 'and nothing else')
})

test('two servers with two registries do not see each other\'s facts', async (t) => {
  const one = new Registry()
  const two = new Registry()
  const first = await listen(t, { privatePools: false, metrics: { registry: one } })
  await listen(t, { privatePools: false, metrics: { registry: two, prefix: 'other_' } })
  const joined = nextFact<JoinFact>(CHANNELS.join, (f) => f.node === first.app.rtcPools.node)
  const a = await Client.open(`${first.url}/rtc`)
  await a.join('p')
  await joined
  t.same(await counts(one, 'rtc_signal_joins_total'), expected('result', JOIN_RESULTS, { ok: 1 }))
  t.same(await counts(two, 'other_joins_total'), expected('result', JOIN_RESULTS))
  t.same(await counts(two, 'other_connections_total'), expected('result', CONNECTION_RESULTS))
  t.same(await counts(one, 'rtc_signal_members'), { '': 1 })
  t.same(await counts(two, 'other_members'), { '': 0 })
  t.equal(two.getSingleMetric('rtc_signal_joins_total'), undefined, 'each registry has only its own server\'s metrics')
})

test('two servers on one registry and prefix: FST_RTC_METRICS_CONFLICT; the registry is free again after close', async (t) => {
  const registry = new Registry()
  const first = Fastify()
  await first.register(rtcSignal, { metrics: { registry } })
  await first.ready()
  const count = registry.getMetricsAsArray().length
  const second = Fastify()
  t.teardown(() => second.close())
  await t.rejects(async () => { await second.register(rtcSignal, { metrics: { registry } }); await second.ready() }, { code: 'FST_RTC_METRICS_CONFLICT' })
  t.equal(registry.getMetricsAsArray().length, count, 'the failed registration left the registry as it was')
  await first.close()
  t.equal(registry.getMetricsAsArray().length, 0, 'closing takes the metrics off the registry')
  const third = Fastify()
  t.teardown(() => third.close())
  await third.register(rtcSignal, { metrics: { registry } })
  await third.ready()
  t.equal(registry.getMetricsAsArray().length, count)
})

test('metrics options are validated at registration', async (t) => {
  const registry = new Registry()
  const cases: Array<[unknown, string]> = [
    [{}, 'metrics.registry'],
    [{ registry: {} }, 'metrics.registry'],
    [{ registry, prefix: 'bad-prefix' }, 'metrics.prefix'],
    [{ registry, buckets: [] }, 'metrics.buckets'],
    [{ registry, buckets: [1, 0.5] }, 'metrics.buckets'],
    [{ registry, buckets: { join: [0] } }, 'metrics.buckets.join'],
    [{ registry, negotiationTimeout: 0 }, 'metrics.negotiationTimeout'],
    [{ registry, maxOpenOffers: 1.5 }, 'metrics.maxOpenOffers'],
    [true, 'metrics']
  ]
  for (const [metrics, name] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(rtcSignal, { metrics: metrics as false }); await app.ready() },
      { code: 'FST_RTC_INVALID_OPTION', message: new RegExp(`"${name.replace(/\./g, '\\.')}"`) }, name)
    await app.close()
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(rtcSignal, { metrics: { registry, prefix: 'x_', buckets: { negotiation: [1, 10, 60] } } })
  await app.ready()
  const buckets = (await samples(registry, 'x_negotiation_seconds')).filter((s) => s.labels.outcome === 'answered' && s.metricName === 'x_negotiation_seconds_bucket').map((s) => s.labels.le)
  t.same(buckets, [1, 10, 60, '+Inf'], 'buckets per histogram')
  t.equal(registry.getSingleMetric('x_join_seconds') !== undefined, true)
})

test('prom-client is loaded only when metrics are on; without it, metrics fail with FST_RTC_METRICS_UNAVAILABLE', async (t) => {
  // A child process where prom-client cannot be resolved at all (a module resolve hook).
  const run = promisify(execFile)
  const fixtures = path.join(__dirname, 'fixtures')
  const { stdout } = await run(process.execPath, [
    '--import', path.join(fixtures, 'hide-prom-client.mjs'), '--import', 'tsx', path.join(fixtures, 'metrics-load.ts')
  ], { cwd: path.join(__dirname, '..') })
  t.same(JSON.parse(stdout), {
    off: { registered: true, promClientLoaded: false },
    on: { code: 'FST_RTC_METRICS_UNAVAILABLE', promClientLoaded: false }
  })
})

test('Negotiations on a fake clock: answered, abandoned, timeout, bounded', async (t) => {
  let now = 0
  let sweep: (() => void) | null = null
  const clock: MetricsClock = {
    now: () => now,
    setInterval: (callback) => { sweep = callback; return {} },
    clearInterval: () => { sweep = null },
    setTimeout: () => { throw new Error('not used') },
    clearTimeout: () => {}
  }
  const settled: Array<[NegotiationOutcome, number]> = []
  let evicted = 0
  const table = new Negotiations({ timeout: 10_000, max: 3, clock, settled: (o, s) => settled.push([o, s]), evicted: () => evicted++ })
  table.offer('a', 'b')
  now = 250
  table.answer('a', 'b') // a cannot answer its own offer
  table.answer('b', 'a')
  t.same(settled, [['answered', 0.25]])
  table.offer('a', 'b')
  table.offer('c', 'a')
  table.offer('b', 'c')
  t.equal(table.size, 3)
  table.left('a')
  t.same(settled.slice(1), [['abandoned', 0], ['abandoned', 0]], 'both offers a is part of')
  table.offer('d', 'e')
  table.offer('e', 'f')
  table.offer('f', 'g')
  t.equal(evicted, 1, 'the fourth open offer evicts the oldest')
  t.equal(table.size, 3)
  now = 10_249
  sweep!()
  t.equal(settled.length, 3, 'nothing is 10 s old yet')
  now = 10_250
  sweep!()
  t.same(settled.slice(3), [['timeout', 10], ['timeout', 10], ['timeout', 10]])
  t.equal(table.size, 0)
  table.close()
  t.equal(sweep, null, 'close clears the sweep')
})

test('frame kinds: every message the server builds, and every frame type a client sends', async (t) => {
  const id = '8a6f2c1d-3b4e-4f5a-9c7d-1e2f3a4b5c6d'
  t.same({
    joined: sentKind(joinedMessage(id, 'p', [], {})),
    peer: sentKind(peerMessage(id, { name: 'Ada' })),
    close: sentKind(closeMessage(id)),
    describe: sentKind(describeMessage(id, null)),
    stop: sentKind(STOP_MESSAGE),
    sdp: sentKind(sdpMessage(id, OFFER)),
    candidate: sentKind(candidateMessage(id, null)),
    error: sentKind(errorMessage('pool-full')),
    event: sentKind(eventMessage('chat', { text: 'hi' })),
    'event named like rtc': sentKind(eventMessage('rtcx', {}))
  }, {
    joined: 'join',
    peer: 'other',
    close: 'other',
    describe: 'other',
    stop: 'other',
    sdp: 'sdp',
    candidate: 'candidate',
    error: 'other',
    event: 'event',
    'event named like rtc': 'event'
  })
  t.same(['rtc:join', 'rtc:sdp', 'rtc:candidate', 'rtc:leave', 'chat', undefined].map(receivedKind), ['join', 'sdp', 'candidate', 'other', 'event', 'other'])
})

test('resume metrics: the suspended members gauge and resumes_total by result', async (t) => {
  const registry = new Registry()
  const { app, url } = await listen(t, { metrics: { registry }, privatePools: false, heartbeatInterval: 0 })
  const a = await Client.open(`${url}/rtc`)
  a.send('rtc:join', { pool: 'p', resume: true })
  const { client_id: id, resume } = await a.expect('rtc:joined')
  ;(a.ws as unknown as { _socket: { destroy: () => void } })._socket.destroy()
  await app.rtcPools.once('suspend')
  t.same(await counts(registry, 'rtc_signal_suspended_members'), { '': 1 })
  t.same(await counts(registry, 'rtc_signal_members'), { '': 1 }, 'a suspended member is still a member')
  const bad = await Client.open(`${url}/rtc`)
  bad.send('rtc:resume', { token: 'nope', received: 0 })
  await bad.expect('rtc:error')
  const b = await Client.open(`${url}/rtc`)
  b.send('rtc:resume', { token: resume.token, received: 0 })
  t.equal((await b.expect('rtc:resumed')).client_id, id)
  t.same(await counts(registry, 'rtc_signal_suspended_members'), { '': 0 })
  t.same(await counts(registry, 'rtc_signal_resumes_total'), expected('result', RESUME_RESULTS, { resumed: 1, 'unknown-token': 1 }))
  t.same(await counts(registry, 'rtc_signal_errors_total'), expected('reason', REASONS, { 'resume-failed': 1 }))
})
