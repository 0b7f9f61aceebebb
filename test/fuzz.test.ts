import { test } from 'tap'
import { randomBytes } from 'node:crypto'
import { Client, joinAll, listen } from './helpers'

/** A small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const FRAMES = 10_000
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed)
const KEYS = ['type', 'data', 'pool', 'to', 'for', 'description', 'candidate', 'sdp', '__proto__', 'constructor', 'prototype', 'toString', 'client_id', 'peers', '']
const TYPES = ['rtc:join', 'rtc:sdp', 'rtc:candidate', 'rtc:close', 'rtc:stop', 'rtc:joined', 'rtc:error', 'rtc:', 'rtc:describe', 'describe', 'chat', '__proto__', 'constructor', '']

test(`${FRAMES} random frames from one client while two others keep signalling`, async (t) => {
  const rand = prng(SEED)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]
  const str = (max: number): string => {
    const n = Math.floor(rand() * max)
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCodePoint(pick([0x41 + Math.floor(rand() * 26), 0x0, 0x22, 0x5c, 0xe9, 0x1f600, 0xfffd, 0x2028]))
    return s
  }
  const value = (depth: number): unknown => {
    switch (Math.floor(rand() * (depth > 3 ? 5 : 8))) {
      case 0: return null
      case 1: return rand() < 0.5 ? Math.floor(rand() * 1e9) : pick([0, -1, 1e308, -0, 3.14])
      case 2: return rand() < 0.5
      case 3: return str(20)
      case 4: return pick(KEYS)
      case 5: return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1))
      default: {
        const o: Record<string, unknown> = {}
        for (let i = Math.floor(rand() * 5); i > 0; i--) Object.defineProperty(o, pick(KEYS), { value: value(depth + 1), enumerable: true, writable: true, configurable: true })
        return o
      }
    }
  }

  const { app, url } = await listen(t, { privatePools: false, rateLimit: { max: 1_000_000 }, maxPayload: 64 * 1024 })
  const [a, b] = await joinAll(url, 'shared', 2)
  const [other] = await joinAll(url, 'elsewhere', 1)
  const fuzzer = await Client.open(`${url}/rtc`)
  await fuzzer.join('shared')
  await a.expect('rtc:peer')
  await b.expect('rtc:peer')
  const targets = [a.id, b.id, other.id, fuzzer.id, 'nobody', '', str(8)]

  let appEvents = 0
  app.rtcPools.on('event', ({ endpoint }) => { if (endpoint.id === fuzzer.id) appEvents++ })

  const frame = (): { text: string | Buffer, binary: boolean } => {
    const r = rand()
    if (r < 0.08) return { text: randomBytes(Math.floor(rand() * 200)), binary: true }
    if (r < 0.16) return { text: randomBytes(Math.floor(rand() * 200)).toString('latin1'), binary: false }
    if (r < 0.22) return { text: JSON.stringify(value(0)) ?? 'undefined', binary: false }
    if (r < 0.24) return { text: JSON.stringify({ type: 'rtc:candidate', data: { for: pick(targets), candidate: { big: 'x'.repeat(50_000) } } }), binary: false }
    if (r < 0.26) return { text: '{"type":"rtc:sdp","data":{"__proto__":{"to":"' + b.id + '"},"description":{"type":"offer","sdp":"x"}}}', binary: false }
    const data = rand() < 0.1 ? value(1) : { ...(value(1) as object), [pick(['to', 'for', 'pool'])]: pick(targets), description: rand() < 0.5 ? value(2) : { type: 'offer', sdp: str(30) }, candidate: value(2) }
    return { text: JSON.stringify({ type: rand() < 0.9 ? pick(TYPES) : value(1), data }), binary: false }
  }

  // the two others signal each other throughout; every frame must arrive, in order, and nothing else
  const ROUNDS = 400
  let relayedOk = 0
  let fuzzRelays = 0
  /** Reads `ROUNDS` frames from `sender` at `receiver`, in order; valid relays from the fuzzer are counted apart. */
  const drain = async (receiver: Client, sender: Client, type: string, payload: (d: Record<string, any>) => string, prefix: string): Promise<void> => {
    for (let i = 0; i < ROUNDS;) {
      const m = await receiver.next(20_000)
      if (m.data.peer === fuzzer.id || m.data.from === fuzzer.id) { fuzzRelays++; continue }
      if (m.type === type && (m.data.peer ?? m.data.from) === sender.id && payload(m.data) === `${prefix}${i}`) relayedOk++
      else t.fail(`unexpected at the receiver: ${JSON.stringify(m).slice(0, 200)}`)
      i++
    }
  }
  const signalling = (async () => {
    for (let i = 0; i < ROUNDS; i++) {
      a.send('rtc:sdp', { to: b.id, description: { type: 'offer', sdp: `a${i}` } })
      b.send('rtc:candidate', { for: a.id, candidate: { candidate: `b${i}` } })
      if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  const received = Promise.all([
    drain(b, a, 'rtc:sdp', (d) => d.description.sdp, 'a'),
    drain(a, b, 'rtc:candidate', (d) => d.candidate.candidate, 'b')
  ])

  let errors = 0
  const reasons = new Map<string, number>()
  for (let i = 0; i < FRAMES; i++) {
    const f = frame()
    fuzzer.sendRaw(f.text, f.binary)
    if (i % 100 === 99) {
      // keep the fuzzer's own queue bounded and count answers as they come
      for (const m of await fuzzer.sync()) {
        if ((m.type === 'rtc:sdp' && m.data.peer === fuzzer.id) || (m.type === 'rtc:candidate' && m.data.from === fuzzer.id)) {
          fuzzRelays++ // a well-formed relay to itself: a member of its own pool
          continue
        }
        if (m.type !== 'rtc:error') { t.fail(`unexpected ${m.type} to the fuzzer`); continue }
        errors++
        reasons.set(m.data.reason, (reasons.get(m.data.reason) ?? 0) + 1)
      }
    }
  }
  await signalling
  await received
  // relays from the fuzzer that arrived after the others' last frame
  for (const m of [...await a.sync(), ...await b.sync()]) if (m.data.peer === fuzzer.id || m.data.from === fuzzer.id) fuzzRelays++
  t.equal(relayedOk, ROUNDS * 2, 'every frame between the two others arrived, in order')
  t.equal(errors + appEvents + fuzzRelays, FRAMES, `every frame answered: ${errors} rtc:error, ${appEvents} application events, ${fuzzRelays} valid relays`)
  t.ok(reasons.size >= 6, `many reasons exercised: ${JSON.stringify(Object.fromEntries(reasons))}`)
  t.same(await other.sync(), [], 'nothing leaked into the other pool')
  t.equal(fuzzer.ws.readyState, 1, 'the fuzzer is still connected')
  t.equal(Object.hasOwn(Object.prototype, 'to'), false, 'no prototype pollution')
  t.same(app.rtcPools.stats(), { connections: 4, pools: 2 })
})
