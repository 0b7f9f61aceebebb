// joinTimeout's queue (lib/core/join-timeouts.ts) on a fake clock: one timer for every connection
// waiting to join; the end to end behaviour is in limits.test.ts.
import { test } from 'tap'
import type { Endpoint } from '../lib/core/endpoint'
import { JoinTimeouts } from '../lib/core/join-timeouts'
import { FakeClock } from './fake-clock'
import { silent } from './helpers'

interface Waiter {
  readonly id: string
  pool: string | null
  closed: boolean
  closedWith: [number, string] | null
}

function waiter (id: string): Waiter & Endpoint {
  const w: Waiter & { request: unknown, close: (code: number, reason: string) => void } = {
    id,
    pool: null,
    closed: false,
    closedWith: null,
    request: { log: silent },
    close (code: number, reason: string) {
      w.closed = true
      w.closedWith = [code, reason]
    }
  }
  return w as unknown as Waiter & Endpoint
}

test('each connection is closed joinTimeout after it opened, unless it joined or went; one timer at a time', async (t) => {
  const clock = new FakeClock()
  const timeouts = new JoinTimeouts(clock, 1000)
  const a = waiter('a')
  const b = waiter('b')
  const c = waiter('c')
  const d = waiter('d')
  timeouts.add(a)
  clock.advance(100)
  const ticketB = timeouts.add(b)
  clock.advance(100)
  timeouts.add(c)
  timeouts.add(d)
  t.equal(clock.pending, 1, 'one timer for four connections')
  timeouts.cancel(ticketB)
  c.pool = 'p' // joined without cancelling: not closed either
  clock.advance(799) // t = 999
  t.same([a.closedWith, b.closedWith], [null, null], 'not before its time')
  clock.advance(1) // t = 1000
  t.same(a.closedWith, [1008, 'join timeout'])
  clock.advance(200) // t = 1200
  t.same([b.closedWith, c.closedWith], [null, null], 'cancelled, joined')
  t.same(d.closedWith, [1008, 'join timeout'], 'opened at the same time as c')
  t.equal(clock.pending, 0, 'no timer once nobody waits')
  timeouts.cancel(ticketB) // twice, and after expiry: nothing
  const e = waiter('e')
  const ticketE = timeouts.add(e)
  t.equal(clock.pending, 1)
  timeouts.cancel(ticketE)
  t.equal(clock.pending, 0, 'the last one cancelled clears the timer')
  timeouts.add(waiter('f'))
  timeouts.stop()
  t.equal(clock.pending, 0, 'stop clears it')
})

test('thousands of connections: each closed on time, in order, the lists compacted on the way', async (t) => {
  const clock = new FakeClock()
  const timeouts = new JoinTimeouts(clock, 500)
  const all: Array<Waiter & Endpoint> = []
  const tickets: number[] = []
  for (let i = 0; i < 5000; i++) {
    const w = waiter(String(i))
    all.push(w)
    tickets.push(timeouts.add(w))
    clock.advance(1)
    if (i % 3 === 0) timeouts.cancel(tickets[i]) // joined
    if (i >= 500 && i % 97 === 0) t.equal(all[i - 500].closed, (i - 500) % 3 !== 0, `connection ${i - 500} at its deadline`)
  }
  clock.advance(500)
  t.same(all.filter((w) => w.closed).map((w) => w.id), all.filter((_, i) => i % 3 !== 0).map((w) => w.id))
  t.equal(clock.pending, 0)
})
