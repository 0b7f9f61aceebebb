// The browser client's schedules, without a browser: when it reconnects (backoff with full
// jitter, the 1012 spread, giving up) and how it retries a relay the server refused (peer-busy).
// Both are DOM-free modules with their random source / timers handed in.

import t from 'tap'
import type { Test } from 'tap'
import { DEFAULT_RECONNECT, DRAIN_SPREAD, reconnectDelay, reconnectPolicy } from '../lib/client/backoff'
import { PEER_BUSY_FIRST_DELAY, PEER_BUSY_QUIET, PEER_BUSY_TRIES, RelayRetry } from '../lib/client/relay-retry'
import type { RelayType } from '../lib/client/relay-retry'
import { FakeClock } from './fake-clock'

t.test('reconnect delays: exponential ceiling, full jitter, 1012 spread, give-up', async (t) => {
  const policy = reconnectPolicy(true)!
  t.same(policy, DEFAULT_RECONNECT, 'reconnect: true is the default policy')
  t.same(DEFAULT_RECONNECT, { minDelay: 250, maxDelay: 5000, maxAttempts: Infinity, giveUpAfterMs: 60_000 }, 'defaults from RESUME.md')
  t.equal(reconnectPolicy(false), null, 'reconnect: false is no policy')
  t.same(reconnectPolicy({ minDelay: 10, maxDelay: undefined }), { ...DEFAULT_RECONNECT, minDelay: 10 }, 'partial options merge with the defaults (undefined ignored)')

  const top = (): number => 1 - Number.EPSILON
  const ceilings = [0, 1, 2, 3, 4, 5, 6].map((attempt) => reconnectDelay(policy, attempt, 1006, 0, top))
  t.same(ceilings, [250, 500, 1000, 2000, 4000, 5000, 5000], 'the largest delay doubles from 250 ms and stops at 5 s')
  t.same([0, 3, 9].map((attempt) => reconnectDelay(policy, attempt, 1006, 0, () => 0)), [0, 0, 0], 'full jitter: the smallest delay is 0')
  t.equal(reconnectDelay(policy, 2, 1006, 0, () => 0.5), 500, 'a delay is random() times the ceiling')
  t.equal(reconnectDelay(policy, 0, 1012, 0, top), DRAIN_SPREAD, 'after 1012 the first delay is spread over [0, 2 s]')
  t.equal(reconnectDelay(policy, 0, 1012, 0, () => 0.25), 500, '... uniformly')
  t.equal(reconnectDelay(policy, 1, 1012, 0, top), 500, 'the attempts after it back off as usual')
  for (const code of [1006, 1011, 1001, 4000]) t.not(reconnectDelay(policy, 0, code, 0), null, `close ${code} is retried`)
  for (const code of [1000, 1008]) t.equal(reconnectDelay(policy, 0, code, 0), null, `close ${code} is final`)
  t.equal(reconnectDelay(policy, 3, 1006, 59_000, top), null, 'an attempt that would come after giveUpAfterMs: give up')
  t.equal(reconnectDelay(policy, 3, 1006, 59_000, () => 0.1), 200, '... one that comes before it is made')
  t.equal(reconnectDelay({ ...policy, maxAttempts: 2 }, 2, 1006, 0), null, 'maxAttempts failed attempts: give up')
})

interface Sent { type: RelayType, data: Record<string, unknown> }

function retrier (t: Test, current = (): boolean => true): { clock: FakeClock, retry: RelayRetry, sent: Sent[], gaveUp: string[] } {
  const clock = new FakeClock()
  const sent: Sent[] = []
  const gaveUp: string[] = []
  const retry = new RelayRetry({
    send: (type, data) => { sent.push({ type, data }) },
    current: () => current(),
    gaveUp: (type, to, tries) => { gaveUp.push(`${type} ${to} ${tries}`) }
  }, clock)
  t.teardown(() => retry.clear())
  return { clock, retry, sent, gaveUp }
}

const offer = (ufrag: string): Record<string, unknown> => ({ to: 'b', description: { type: 'offer', sdp: `v=0\r\na=ice-ufrag:${ufrag}\r\n` } })
const candidate = (n: number, ufrag: string): Record<string, unknown> => ({ for: 'b', candidate: { candidate: `candidate:${n}`, usernameFragment: ufrag } })

t.test('peer-busy: 50 ms doubling, 5 tries, then given up', async (t) => {
  const { clock, retry, sent, gaveUp } = retrier(t)
  retry.sent('rtc:sdp', 'b', offer('u1'))
  const times: number[] = []
  for (let i = 0; i < PEER_BUSY_TRIES; i++) {
    retry.refused('rtc:sdp', 'b')
    const before = sent.length
    while (sent.length === before) clock.advance(1)
    times.push(clock.time)
  }
  t.equal(PEER_BUSY_FIRST_DELAY, 50)
  t.same(times, [50, 150, 350, 750, 1550], 'retries at 50, 100, 200, 400, 800 ms after each refusal')
  t.ok(sent.every((s) => s.type === 'rtc:sdp' && s.data === sent[0].data), 'each retry sends the refused description again')
  retry.refused('rtc:sdp', 'b')
  t.same(gaveUp, ['rtc:sdp b 5'], 'the sixth refusal gives up (the Pool reports an error)')
  clock.advance(10_000)
  t.equal(sent.length, 5, 'nothing more is sent')
})

t.test('peer-busy: refusals while a retry is planned share it; a quiet peer starts again from 50 ms', async (t) => {
  const { clock, retry, sent } = retrier(t)
  retry.sent('rtc:sdp', 'b', offer('u1'))
  for (let i = 0; i < 3; i++) retry.refused('rtc:candidate', 'b')
  for (const n of [1, 2, 3]) retry.sent('rtc:candidate', 'b', candidate(n, 'u1'))
  clock.advance(49)
  t.equal(sent.length, 0, 'nothing before 50 ms')
  clock.advance(1)
  t.same(sent.map((s) => (s.data.candidate as { candidate: string }).candidate), ['candidate:1', 'candidate:2', 'candidate:3'],
    'three refusals, one retry: every candidate of the current credentials goes again (the error does not say which)')
  clock.advance(PEER_BUSY_QUIET)
  retry.refused('rtc:candidate', 'b')
  clock.advance(PEER_BUSY_FIRST_DELAY)
  t.equal(sent.length, 6, 'after a quiet second the next refusal is retried after 50 ms again')
})

t.test('peer-busy: what is sent again', async (t) => {
  let current = true
  const { clock, retry, sent } = retrier(t, () => current)
  retry.sent('rtc:sdp', 'b', offer('u1'))
  retry.sent('rtc:candidate', 'b', candidate(1, 'u1'))
  retry.sent('rtc:sdp', 'b', offer('u2')) // an ICE restart: new credentials
  retry.sent('rtc:candidate', 'b', candidate(2, 'u2'))
  retry.refused('rtc:candidate', 'b')
  clock.advance(PEER_BUSY_FIRST_DELAY)
  t.same(sent.map((s) => (s.data.candidate as { candidate: string }).candidate), ['candidate:2'], 'only candidates of the current ICE credentials')
  current = false
  retry.refused('rtc:sdp', 'b')
  clock.advance(PEER_BUSY_FIRST_DELAY)
  t.equal(sent.length, 1, 'a description that is no longer the current one is not sent again')
  retry.refused('rtc:sdp', 'b')
  retry.forget('b')
  clock.advance(10_000)
  t.equal(sent.length, 1, 'a peer that left: its planned retry is dropped')
  t.equal(clock.pending, 0, 'no timer left')
})
