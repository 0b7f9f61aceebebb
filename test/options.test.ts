import { test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import rtcSignal, {
  errors, DEFAULT_RESUME_GRACE_MS, DEFAULT_RESUME_MAX_FRAMES, DEFAULT_RESUME_MAX_BYTES, DEFAULT_RESUME_FAILURES_PER_IP, DEFAULT_DRAIN_WINDOW_MS, DEFAULT_DRAIN_DEADLINE_MS,
  DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_MEMBERS, DEFAULT_MAX_PAYLOAD, DEFAULT_PRIVATE_POOLS, type RtcSignalOptions
} from '../lib/index'
import { normalizeOptions } from '../lib/options'
import { build, Client } from './helpers'

test('defaults are safe and named', async (t) => {
  const o = normalizeOptions()
  t.equal(o.prefix, '/rtc')
  t.equal(o.privatePools, DEFAULT_PRIVATE_POOLS)
  t.equal(o.privatePools, true, 'private by default, as PyRTC')
  t.equal(o.maxMembers, DEFAULT_MAX_MEMBERS)
  t.ok(o.heartbeatInterval > 0 && o.rateLimit !== null && o.maxBufferedBytes > 0 && o.maxPayload > 0)
  t.ok(Object.isFrozen(o))
  t.equal(o.maxConnections, DEFAULT_MAX_CONNECTIONS)
  t.equal(o.maxConnectionsPerIp, DEFAULT_MAX_CONNECTIONS_PER_IP)
  t.same(o.resume, { graceMs: DEFAULT_RESUME_GRACE_MS, maxFrames: DEFAULT_RESUME_MAX_FRAMES, maxBytes: DEFAULT_RESUME_MAX_BYTES })
  t.equal(o.resumeFailuresPerIp, DEFAULT_RESUME_FAILURES_PER_IP)
  t.same(o.drain, { windowMs: DEFAULT_DRAIN_WINDOW_MS, deadlineMs: DEFAULT_DRAIN_DEADLINE_MS })
  t.same(normalizeOptions({ resume: { graceMs: 5000 } }).resume, { graceMs: 5000, maxFrames: DEFAULT_RESUME_MAX_FRAMES, maxBytes: DEFAULT_RESUME_MAX_BYTES }, 'a partial resume object takes the other defaults')
  t.equal(normalizeOptions({ resume: false }).resume, null)
})

test('a wrong option fails register with FST_RTC_INVALID_OPTION naming it', async (t) => {
  const cases: Array<[RtcSignalOptions, string]> = [
    [{ prefix: 'rtc' }, 'prefix'],
    [{ prefix: '/rtc/' }, 'prefix'],
    [{ prefix: '/rtc/:x' }, 'prefix'],
    [{ privatePools: 'no' as unknown as boolean }, 'privatePools'],
    [{ maxMembers: 0 }, 'maxMembers'],
    [{ maxMembers: 2.5 }, 'maxMembers'],
    [{ maxPoolNameLength: -1 }, 'maxPoolNameLength'],
    [{ maxPayload: 10 }, 'maxPayload'],
    [{ maxBufferedBytes: '1mb' as unknown as number }, 'maxBufferedBytes'],
    [{ heartbeatInterval: -5 }, 'heartbeatInterval'],
    [{ rateLimit: { max: 0 } }, 'rateLimit.max'],
    [{ rateLimit: 5 as unknown as false }, 'rateLimit'],
    [{ allowedOrigins: 'https://a.example' as unknown as string[] }, 'allowedOrigins'],
    [{ joinHook: 'yes' as unknown as undefined }, 'joinHook'],
    [{ routeOptions: [] as unknown as undefined }, 'routeOptions'],
    [{ demo: 1 as unknown as boolean }, 'demo'],
    [{ adapter: {} as unknown as undefined }, 'adapter'],
    [{ maxConnections: -1 }, 'maxConnections'],
    [{ maxConnectionsPerIp: 1.5 }, 'maxConnectionsPerIp'],
    [{ iceServers: 'stun:stun.example.org' as unknown as [] }, 'iceServers'],
    [{ resume: true as unknown as false }, 'resume'],
    [{ resume: { graceMs: 0 } }, 'resume.graceMs'],
    [{ resume: { graceMs: 2 ** 31 } }, 'resume.graceMs'],
    [{ resume: { maxFrames: 0 } }, 'resume.maxFrames'],
    [{ resume: { maxBytes: 1.5 } }, 'resume.maxBytes'],
    [{ resumeFailuresPerIp: -1 }, 'resumeFailuresPerIp'],
    [{ drain: false as unknown as undefined }, 'drain'],
    [{ drain: { windowMs: -1 } }, 'drain.windowMs'],
    [{ drain: { deadlineMs: 0 } }, 'drain.deadlineMs'],
    [{ drain: { windowMs: 5000, deadlineMs: 4000 } }, 'drain.windowMs']
  ]
  for (const [opts, name] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(rtcSignal, opts); await app.ready() }, { code: 'FST_RTC_INVALID_OPTION', message: new RegExp(`"${name.replace('.', '\\.')}"`) }, name)
    await app.close()
  }
  t.type(new errors.FST_RTC_INVALID_OPTION('x', 'y'), TypeError)
})

test('the caller\'s options object is never mutated', async (t) => {
  const opts = { privatePools: false, rateLimit: { max: 10 } }
  const copy = JSON.parse(JSON.stringify(opts))
  await build(t, opts)
  t.same(opts, copy)
})

test('an app that registered @fastify/websocket itself keeps it; a custom prefix works', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket, { options: { maxPayload: DEFAULT_MAX_PAYLOAD } })
  await app.register(rtcSignal, { privatePools: false, prefix: '/signal' })
  app.get('/app-ws', { websocket: true }, (socket) => { socket.send('app') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const c = await Client.open(`${url}/signal`)
  t.equal((await c.join('p')).pool, 'p')
  const own = await Client.open(`${url}/signal/room`)
  t.equal((await own.join('room')).pool, 'room')
})

test('injectWS speaks the protocol without listening', async (t) => {
  const app = await build(t, { privatePools: false })
  const ws = await app.injectWS('/rtc/lobby')
  const c = new Client(ws)
  t.equal((await c.join('lobby')).pool, 'lobby')
  ws.terminate()
})

test('a plain GET on a WebSocket route is a 426, not a hang', async (t) => {
  const app = await build(t, { privatePools: false })
  t.equal((await app.inject('/rtc')).statusCode, 426)
  t.equal((await app.inject('/rtc/lobby')).statusCode, 426)
})

test('an unknown option key fails register, naming it and suggesting the nearest known key', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ privatePool: false }, /"privatePool".*did you mean "privatePools"\?/],
    [{ maxMember: 4 }, /"maxMember".*did you mean "maxMembers"\?/],
    [{ heartbeatIntervall: 1000 }, /"heartbeatIntervall".*did you mean "heartbeatInterval"\?/],
    [{ colour: 'red' }, /"colour": unknown option(?!.*did you mean)/]
  ]
  for (const [opts, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(rtcSignal, opts as RtcSignalOptions); await app.ready() }, { code: 'FST_RTC_INVALID_OPTION', message }, Object.keys(opts)[0])
    await app.close()
  }
})

test('registration refuses limits whose largest rtc:joined would not fit maxBufferedBytes', async (t) => {
  // maxMembers × (maxDescriptionBytes + 100) + 200 must fit: 32 × 4,196 + 200 = 134,472 bytes by default
  const refused: RtcSignalOptions[] = [
    { maxBufferedBytes: 128 * 1024 },
    { maxMembers: 250 },
    { maxDescriptionBytes: 40_000 },
    { maxDescriptionBytes: 0 }
  ]
  for (const opts of refused) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(rtcSignal, opts); await app.ready() }, { code: 'FST_RTC_INVALID_OPTION' }, JSON.stringify(opts))
    await app.close()
  }
  for (const opts of [{ maxBufferedBytes: 134_472 }, { maxMembers: 249 }, { maxBufferedBytes: 64 * 1024, maxMembers: 8 }]) {
    const app = Fastify()
    await app.register(rtcSignal, opts)
    await app.ready()
    await app.close()
    t.pass(JSON.stringify(opts))
  }
  const app = await build(t)
  await t.rejects(app.rtcPools.createPool('hall', { maxMembers: 250 }), { code: 'FST_RTC_INVALID_OPTION', message: /"maxMembers"/ }, 'createPool too')
  t.equal((await app.rtcPools.createPool('hall', { maxMembers: 249 })).maxMembers, 249)
})
