// ICE servers from the server (lib/ice.ts): TURN REST credentials, validation, refresh timing.
import { inspect } from 'node:util'
import { test } from 'tap'
import {
  MAX_REFRESH_DELAY, MIN_REFRESH_DELAY, MIN_TURN_TTL, normalizeIceServers, refreshDelay, turnRestCredential,
  type IceServers, type IceServersOption, type IcePeer
} from '../lib/ice'

const PEER = { id: '9b2f4c1e-7d3a-4e5b-8c6f-0a1b2c3d4e5f' }
const NOW = 1_700_000_000_000
// Known vectors, computed once outside this code with
//   printf '%s' "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
const VECTORS = {
  north3600: 'QiTutfd9xpkLB9RIKqQUbnw17do=', // secret north-star-secret, username 1700003600:<PEER.id>
  rotated3600: 'EDSr78IUlfQP/sEVNTnZhs3lKsw=', // secret rotated-secret-2, username 1700003600:<PEER.id>
  rotated600: 'wfNtq6ATjuJMpnjwYFygOHnnJ3Y=' // secret rotated-secret-2, username 1700000600:<PEER.id>
}
const SECRET = 'TOP-SECRET-do-not-log'

function issuer (value: IceServersOption): IceServers {
  const ice = normalizeIceServers(value)
  if (ice === null) throw new Error('expected ICE servers')
  return ice
}

test('TURN REST credential: the known vector (username = expiry:peer, HMAC-SHA1, base64)', async (t) => {
  t.equal(turnRestCredential('north-star-secret', `1700003600:${PEER.id}`), VECTORS.north3600)
  const ice = issuer([{ urls: 'turn:turn.example.com:3478', secret: 'north-star-secret', ttl: 3600 }])
  // Milliseconds are dropped: the expiry is whole seconds from the start of the current second.
  t.same(await ice.issue(PEER, NOW + 999), {
    servers: [{ urls: 'turn:turn.example.com:3478', username: `1700003600:${PEER.id}`, credential: VECTORS.north3600 }],
    expiresAt: 1_700_003_600_000
  })
})

test('static and TURN REST entries together: expiresAt is the earliest expiry', async (t) => {
  const ice = issuer([
    { urls: 'stun:stun.example.com' },
    { urls: ['turn:a.example.com?transport=udp', 'turns:a.example.com:443?transport=tcp'], secret: 'north-star-secret', ttl: 3600 },
    { urls: 'turn:[2001:db8::1]:3478', secret: ['rotated-secret-2', 'older'], ttl: 600 },
    { urls: 'turn:static.example.com', username: 'fixed', credential: 'fixed-password' }
  ])
  const first = await ice.issue(PEER, NOW)
  t.same(first, {
    servers: [
      { urls: 'stun:stun.example.com' },
      { urls: ['turn:a.example.com?transport=udp', 'turns:a.example.com:443?transport=tcp'], username: `1700003600:${PEER.id}`, credential: VECTORS.north3600 },
      { urls: 'turn:[2001:db8::1]:3478', username: `1700000600:${PEER.id}`, credential: VECTORS.rotated600 },
      { urls: 'turn:static.example.com', username: 'fixed', credential: 'fixed-password' }
    ],
    expiresAt: 1_700_000_600_000
  })
  // A caller that edits what it was given does not change what the next member gets.
  ;(first.servers[1].urls as string[]).push('turn:evil.example.com')
  first.servers[0].urls = 'stun:evil.example.com'
  const second = await ice.issue({ id: 'other' }, NOW + 60_000)
  t.same(second.servers[0], { urls: 'stun:stun.example.com' })
  t.same(second.servers[1].urls, ['turn:a.example.com?transport=udp', 'turns:a.example.com:443?transport=tcp'])
  t.equal(second.servers[1].username, '1700003660:other', 'each issue is signed afresh for its peer and time')
  t.equal(second.expiresAt, 1_700_000_660_000)
})

test('only static entries: nothing expires; no option: no ICE servers', async (t) => {
  t.same(await issuer([{ urls: 'stun:stun.example.com:19302' }]).issue(PEER), { servers: [{ urls: 'stun:stun.example.com:19302' }], expiresAt: null })
  t.same(await issuer([]).issue(PEER), { servers: [], expiresAt: null }, 'an empty list tells clients to use no ICE servers')
  t.equal(normalizeIceServers(undefined), null)
})

test('rotation: with several secrets the first one signs', async (t) => {
  const ice = issuer([{ urls: 'turn:turn.example.com', secret: ['rotated-secret-2', 'north-star-secret'], ttl: 3600 }])
  const { servers } = await ice.issue(PEER, NOW)
  t.equal(servers[0].credential, VECTORS.rotated3600)
  t.not(servers[0].credential, VECTORS.north3600, 'the second secret is for the TURN server to accept, not to sign')
})

test('invalid entries fail with FST_RTC_INVALID_OPTION naming the entry, never quoting a secret', async (t) => {
  const turn = 'turn:turn.example.com'
  const cases: Array<[unknown, string]> = [
    ['stun:stun.example.com', 'iceServers'],
    [{ urls: 'stun:x' }, 'iceServers'],
    [[null], 'iceServers[0]'],
    [[SECRET], 'iceServers[0]'],
    [[{}], 'iceServers[0].urls'],
    [[{ urls: [] }], 'iceServers[0].urls'],
    [[{ urls: 'http://stun.example.com' }], 'iceServers[0].urls'],
    [[{ urls: ['stun:ok.example.com', 'stun:'] }], 'iceServers[0].urls[1]'],
    [[{ urls: 'stun:stun.example.com:70000' }], 'iceServers[0].urls'],
    [[{ urls: 'stun:stun.example.com?transport=udp' }], 'iceServers[0].urls'],
    [[{ urls: 'turn:turn.example.com?transport=sctp', username: 'u', credential: SECRET }], 'iceServers[0].urls'],
    [[{ urls: turn, credential: SECRET }], 'iceServers[0]'],
    [[{ urls: 'stun:x', credential: 42 }], 'iceServers[0].credential'],
    [[{ urls: 'stun:x' }, { urls: 'stun:stun.example.com', secret: SECRET, ttl: 3600 }], 'iceServers[1].urls'],
    [[{ urls: turn, secret: '', ttl: 3600 }], 'iceServers[0].secret'],
    [[{ urls: turn, secret: [], ttl: 3600 }], 'iceServers[0].secret'],
    [[{ urls: turn, secret: [SECRET, ''], ttl: 3600 }], 'iceServers[0].secret'],
    [[{ urls: turn, secret: 42, ttl: 3600 }], 'iceServers[0].secret'],
    [[{ urls: turn, secret: SECRET }], 'iceServers[0].ttl'],
    [[{ urls: turn, secret: SECRET, ttl: MIN_TURN_TTL - 1 }], 'iceServers[0].ttl'],
    [[{ urls: turn, secret: SECRET, ttl: 3600.5 }], 'iceServers[0].ttl'],
    [[{ urls: turn, secret: SECRET, ttl: '3600' }], 'iceServers[0].ttl'],
    [[{ urls: turn, secret: SECRET, ttl: 400 * 24 * 3600 }], 'iceServers[0].ttl'],
    [[{ urls: turn, secret: SECRET, ttl: 3600, username: 'u', credential: SECRET }], 'iceServers[0]']
  ]
  for (const [value, name] of cases) {
    const label = `${name}: ${JSON.stringify(value).replaceAll(SECRET, '<secret>')}`
    let caught: unknown
    try { normalizeIceServers(value as IceServersOption) } catch (err) { caught = err }
    t.match(caught, { code: 'FST_RTC_INVALID_OPTION', message: `Invalid option "${name}": ` }, label)
    t.notMatch(String((caught as Error | undefined)?.message), SECRET, `${label}: no secret in the message`)
  }
  t.throws(() => normalizeIceServers(5 as unknown as IceServersOption, 'ice'), { code: 'FST_RTC_INVALID_OPTION', message: /^Invalid option "ice"/ }, 'the option name is the caller\'s')
})

test('secrets never reach logs: the normalized object shows nothing of them', async (t) => {
  const ice = issuer([
    { urls: 'turn:turn.example.com', secret: [SECRET, `${SECRET}-old`], ttl: 3600 },
    { urls: 'turn:static.example.com', username: 'u', credential: `${SECRET}-static` }
  ])
  for (const shown of [
    JSON.stringify(ice),
    inspect(ice),
    inspect(ice, { showHidden: true, depth: Infinity, getters: true }),
    String(Object.getOwnPropertyNames(ice)),
    String(ice.issue)
  ]) {
    t.notMatch(shown, 'TOP-SECRET', shown)
  }
  const provider = issuer(async () => ({ servers: [], expiresAt: null }))
  t.equal(JSON.stringify(provider), '{}')
})

test('the function form is called with the peer, and its result is checked', async (t) => {
  const seen: IcePeer[] = []
  const expiresAt = NOW + 3_600_000
  const ice = issuer(async (peer) => {
    seen.push(peer)
    return { servers: [{ urls: 'turn:t.example.com', username: `x:${peer.id}`, credential: 'c' }], expiresAt }
  })
  t.same(await ice.issue(PEER), { servers: [{ urls: 'turn:t.example.com', username: `x:${PEER.id}`, credential: 'c' }], expiresAt })
  t.equal(seen[0], PEER, 'the peer object itself: the plugin passes its endpoint (request, pool, description)')

  t.same(await issuer(() => ({ servers: [{ urls: 'stun:s.example.com' }], expiresAt: null })).issue(PEER), { servers: [{ urls: 'stun:s.example.com' }], expiresAt: null }, 'a plain return value works too')
  t.same(await issuer(() => ({ servers: [] }) as never).issue(PEER), { servers: [], expiresAt: null }, 'a missing expiresAt means never')

  const boom = new Error('provider down')
  await t.rejects(issuer(async () => { throw boom }).issue(PEER), boom, 'a rejection reaches the caller as it is')
  await t.rejects(issuer(() => { throw boom }).issue(PEER), boom, 'a synchronous throw becomes a rejection, not a crash')

  const bad: Array<[unknown, string]> = [
    [undefined, 'iceServers()'],
    [[{ urls: 'stun:s' }], 'iceServers()'],
    [{ servers: 'stun:s' }, 'iceServers()'],
    [{ servers: [{ urls: 'ftp://x' }], expiresAt: null }, 'iceServers().servers[0].urls'],
    [{ servers: [{ urls: 'turn:t.example.com', username: 'u' }], expiresAt: null }, 'iceServers().servers[0]'],
    [{ servers: [{ urls: 'turn:t.example.com', username: 'u', credential: 7 }], expiresAt: null }, 'iceServers().servers[0].credential'],
    [{ servers: [], expiresAt: '2030-01-01' }, 'iceServers().expiresAt'],
    [{ servers: [], expiresAt: Number.NaN }, 'iceServers().expiresAt']
  ]
  for (const [result, name] of bad) {
    await t.rejects(issuer(async () => result as never).issue(PEER), { code: 'FST_RTC_INVALID_OPTION', message: `Invalid option "${name}"` }, name)
  }
  await t.rejects(
    issuer(async () => ({ servers: [{ urls: 'turn:t.example.com', credential: SECRET }], expiresAt: null })).issue(PEER),
    { message: /^(?![\s\S]*TOP-SECRET)/ },
    'no credential in the message'
  )
})

test('refresh at 70-80 % of the lifetime, spread by the injected random', async (t) => {
  const ice = issuer([{ urls: 'turn:t.example.com', secret: 's', ttl: 3600 }])
  const { expiresAt } = await ice.issue(PEER, NOW)
  const lifetime = 3_600_000
  t.equal(refreshDelay(NOW, expiresAt as number, () => 0), 0.70 * lifetime)
  t.equal(refreshDelay(NOW, expiresAt as number, () => 0.5), 0.75 * lifetime)
  t.equal(refreshDelay(NOW, expiresAt as number, () => 1), 0.80 * lifetime)
  t.equal(refreshDelay(NOW, expiresAt as number, () => 7), 0.80 * lifetime, 'a random outside [0, 1] is clamped')

  // Twenty members that joined in the same millisecond do not refresh in the same one.
  const delays = Array.from({ length: 20 }, (_, i) => refreshDelay(NOW, expiresAt as number, () => i / 20))
  t.equal(new Set(delays).size, 20)
  t.ok(delays.every((d) => d >= 0.70 * lifetime && d < 0.80 * lifetime))

  // Issued at NOW + 999 ms: the credential's lifetime is 999 ms shorter, and the delay follows it.
  const late = await ice.issue(PEER, NOW + 999)
  t.equal(refreshDelay(NOW + 999, late.expiresAt as number, () => 0), Math.round(0.70 * (lifetime - 999)))
})

test('refresh delay: a floor, a ceiling, never negative', async (t) => {
  t.equal(refreshDelay(NOW, NOW - 60_000, () => 0.5), MIN_REFRESH_DELAY, 'already expired: the floor, not a negative delay')
  t.equal(refreshDelay(NOW, NOW, () => 0.5), MIN_REFRESH_DELAY)
  t.equal(refreshDelay(NOW, NOW + 5_000, () => 0.5), MIN_REFRESH_DELAY, 'a provider in a hurry is not called in a loop')
  t.equal(refreshDelay(NOW, Number.NaN, () => 0.5), MIN_REFRESH_DELAY)
  t.equal(refreshDelay(NOW, NOW + 365 * 24 * 3_600_000, () => 0.5), MAX_REFRESH_DELAY, 'longer than a timer can wait: refresh earlier')
  const byDefault = Array.from({ length: 100 }, () => refreshDelay(NOW, NOW + MIN_TURN_TTL * 1000))
  t.ok(byDefault.every((d) => d >= 0.70 * MIN_TURN_TTL * 1000 && d <= 0.80 * MIN_TURN_TTL * 1000), 'Math.random by default, within 70-80 %')
})
