/**
 * The ssp-v2 checks (docs/protocol.md), each a named case with the rule or error reason it covers.
 * They use only the wire, so they run against any server: this project, PyRTC, a port.
 */
import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { CheckFailure, summary, type Connection, type Message } from './connection'
import type { CheckContext } from './context'

export interface CheckSettings {
  /** Run the flood check (rate-limited). */
  flood: boolean
}

export interface Check {
  name: string
  /** The rule or reason it covers, as docs/protocol.md names it. */
  covers: string
  /** Why it does not run with these settings, or null. */
  skip?: (settings: CheckSettings) => string | null
  run: (ctx: CheckContext) => Promise<void>
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i
const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' }
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' }
const ORDERED_FRAMES = 100
/** Frames sent in one burst by the flood check; a limit above this is reported as not reached. */
const FLOOD_FRAMES = 5000

function candidate (n: number): Record<string, unknown> {
  return { candidate: `candidate:${n} 1 udp 2122260223 192.0.2.1 ${50000 + n} typ host`, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'cnfm' }
}

function check (condition: boolean, failure: string): asserts condition {
  if (!condition) throw new CheckFailure(failure)
}

interface Member {
  conn: Connection
  id: string
}

/** `from` sends `to` an rtc:sdp (or rtc:candidate); `to` must get it with the sender's id and the payload as sent. */
async function relayed (from: Member, to: Member, kind: 'sdp' | 'candidate', payload: unknown, what: string): Promise<void> {
  const [target, sender, field] = kind === 'sdp' ? ['to', 'peer', 'description'] : ['for', 'from', 'candidate']
  from.conn.send(`rtc:${kind}`, { [target]: to.id, [field]: payload })
  const got = await to.conn.expect(`rtc:${kind}`, what)
  check(got[sender] === from.id, `${what} has ${sender} ${JSON.stringify(got[sender])}, expected the sender's id`)
  check(isDeepStrictEqual(got[field], payload), `${what}: its ${field} differs from the one sent: ${JSON.stringify(got[field])}`)
}

/** After a relay the sender must not get an error: its next frames, up to a probe's answer, are checked. */
async function noErrorFor (conn: Connection, what: string): Promise<void> {
  const frames = await conn.sync()
  const error = frames.find((m) => m.type === 'rtc:error')
  check(error === undefined, `${what} was answered with ${error === undefined ? '' : summary(error)}`)
}

/** `conn` got nothing (ambient frames aside), checked after a round trip. */
async function receivedNothing (conn: Connection, what: string): Promise<void> {
  const frames = await conn.sync()
  check(frames.length === 0, `${what}, yet it received ${frames.map(summary).join('; ')}`)
}

/** Each frame must get an `rtc:error` with `reason`, and the socket must still answer afterwards. */
async function refused (conn: Connection, reason: string, cases: Array<[label: string, send: () => void]>): Promise<void> {
  for (const [label, send] of cases) {
    send()
    await conn.expectError(reason, label)
  }
  await conn.sync()
}

export const CHECKS: readonly Check[] = [
  {
    name: 'join',
    covers: 'rtc:joined',
    async run (ctx) {
      const pool = ctx.pool()
      const { joined } = await ctx.join(pool)
      check(joined.peers.length === 0, `the first member of a new pool got peers ${JSON.stringify(joined.peers)}`)
      check(Object.keys(joined.descriptions).length === 1, 'descriptions of a new pool\'s first member lists others')
    }
  },
  {
    name: 'ids',
    covers: 'rule 1',
    async run (ctx) {
      const chosen = randomUUID()
      const proposer = await ctx.join(ctx.pool(), { client_id: chosen, id: chosen, uid: chosen })
      const other = await ctx.join(ctx.pool())
      for (const { id } of [proposer, other]) check(UUID_V4.test(id), `client_id ${JSON.stringify(id)} is not a UUID v4`)
      check(proposer.id !== chosen, 'the server took the id the client proposed')
      check(proposer.id !== other.id, 'two connections got the same id')
    }
  },
  {
    name: 'peer',
    covers: 'rtc:peer',
    async run (ctx) {
      const [a, b] = await ctx.members(2)
      check(isDeepStrictEqual(b.joined.peers, [a.id]), `the second member's peers are ${JSON.stringify(b.joined.peers)}, expected [${a.id}]`)
      check(b.joined.pool === a.joined.pool, 'the two members were told different pool names')
      const [c] = await ctx.members(1, a.joined.pool)
      check(isDeepStrictEqual(c.joined.peers, [a.id, b.id]), `peers are not the other members in join order: ${JSON.stringify(c.joined.peers)}`)
      for (const m of [a, b]) {
        const peer = await m.conn.expect('rtc:peer', 'rtc:peer for the third member')
        check(peer.id === c.id && 'description' in peer, `rtc:peer ${JSON.stringify(peer)} lacks the id or description of the new member`)
      }
    }
  },
  {
    name: 'sdp-relay',
    covers: 'rtc:sdp',
    async run (ctx) {
      const [a, b] = await ctx.members(2)
      await relayed(a, b, 'sdp', OFFER, 'the relayed offer')
      await relayed(b, a, 'sdp', ANSWER, 'the relayed answer')
      await noErrorFor(a.conn, 'a valid rtc:sdp')
    }
  },
  {
    name: 'candidate-relay',
    covers: 'rtc:candidate',
    async run (ctx) {
      const [a, b] = await ctx.members(2)
      await relayed(a, b, 'candidate', candidate(1), 'the relayed candidate')
      await noErrorFor(a.conn, 'a valid rtc:candidate')
    }
  },
  {
    name: 'null-candidate',
    covers: 'rtc:candidate null',
    async run (ctx) {
      const [a, b] = await ctx.members(2)
      await relayed(a, b, 'candidate', null, 'the relayed end of candidates')
    }
  },
  {
    name: 'order',
    covers: 'rule 4',
    async run (ctx) {
      const [a, b] = await ctx.members(2)
      for (let i = 0; i < ORDERED_FRAMES; i++) a.conn.send('rtc:candidate', { for: b.id, candidate: candidate(i) })
      for (let i = 0; i < ORDERED_FRAMES; i++) {
        const got = await b.conn.expect('rtc:candidate', `candidate ${i + 1} of ${ORDERED_FRAMES}`)
        check(isDeepStrictEqual(got.candidate, candidate(i)), `frame ${i + 1} of ${ORDERED_FRAMES} arrived out of order: ${JSON.stringify(got.candidate)}`)
      }
    }
  },
  {
    name: 'unknown-action',
    covers: 'unknown-action',
    async run (ctx) {
      const conn = await ctx.open()
      await refused(conn, 'unknown-action', [['rtc:no-such-action', () => conn.send('rtc:no-such-action', {})]])
      const { conn: member } = await ctx.join(ctx.pool())
      await refused(member, 'unknown-action', [['rtc:no-such-action in a pool', () => member.send('rtc:no-such-action', {})]])
    }
  },
  {
    name: 'close-once',
    covers: 'rule 5, rtc:close',
    async run (ctx) {
      const [a, b, c] = await ctx.members(3)
      await c.conn.close(ctx.timeout)
      for (const m of [a, b]) {
        const closed = await m.conn.expect('rtc:close', 'rtc:close for the member that left')
        check(closed.id === c.id && closed.uid === c.id, `rtc:close ${JSON.stringify(closed)}: expected id and uid ${c.id}`)
        const more = (await m.conn.sync()).filter((f: Message) => f.type === 'rtc:close')
        check(more.length === 0, `a member got ${1 + more.length} rtc:close frames for one leave`)
      }
    }
  },
  {
    name: 'already-joined',
    covers: 'rule 2, already-joined',
    async run (ctx) {
      const { conn, joined } = await ctx.join(ctx.pool())
      await refused(conn, 'already-joined', [
        ['a second rtc:join to the same pool', () => conn.send('rtc:join', { pool: joined.pool })],
        ['a second rtc:join to another pool', () => conn.send('rtc:join', { pool: ctx.pool() })]
      ])
    }
  },
  {
    name: 'not-joined',
    covers: 'rule 3, not-joined',
    async run (ctx) {
      const [a] = await ctx.members(1)
      const conn = await ctx.open()
      await refused(conn, 'not-joined', [
        ['rtc:sdp before rtc:join', () => conn.send('rtc:sdp', { to: a.id, description: OFFER })],
        ['rtc:candidate before rtc:join', () => conn.send('rtc:candidate', { for: a.id, candidate: candidate(1) })]
      ])
      await receivedNothing(a.conn, 'a socket that had not joined addressed a member')
    }
  },
  {
    name: 'missing-target',
    covers: 'missing-target',
    async run (ctx) {
      const { conn } = await ctx.join(ctx.pool())
      await refused(conn, 'missing-target', [
        ['rtc:sdp without to', () => conn.send('rtc:sdp', { description: OFFER })],
        ['rtc:candidate without for', () => conn.send('rtc:candidate', { candidate: candidate(1) })]
      ])
    }
  },
  {
    name: 'unknown-peer',
    covers: 'unknown-peer',
    async run (ctx) {
      const { conn } = await ctx.join(ctx.pool())
      const nobody = randomUUID()
      await refused(conn, 'unknown-peer', [
        ['rtc:sdp to an id nobody has', () => conn.send('rtc:sdp', { to: nobody, description: OFFER })],
        ['rtc:candidate for an id nobody has', () => conn.send('rtc:candidate', { for: nobody, candidate: candidate(1) })]
      ])
    }
  },
  {
    name: 'cross-pool',
    covers: 'rule 3, unknown-peer',
    async run (ctx) {
      const [a] = await ctx.members(1)
      const [other] = await ctx.members(1)
      a.conn.send('rtc:sdp', { to: other.id, description: OFFER })
      a.conn.send('rtc:candidate', { for: other.id, candidate: candidate(1) })
      // The sender's round trip comes first: once it is answered, any relay has been written.
      const answers = await a.conn.sync()
      const leaked = await other.conn.sync()
      check(leaked.length === 0, `relayed across pools: a member of another pool received ${leaked.map((m) => m.type).join(', ')}`)
      const reasons = answers.filter((m) => m.type === 'rtc:error').map((m) => m.data.reason)
      check(isDeepStrictEqual(reasons, ['unknown-peer', 'unknown-peer']), `frames to a member of another pool got ${reasons.length === 0 ? 'no rtc:error' : `rtc:error ${reasons.join(', ')}`}, expected unknown-peer twice`)
    }
  },
  {
    name: 'missing-pool',
    covers: 'missing-pool',
    async run (ctx) {
      const conn = await ctx.open()
      await refused(conn, 'missing-pool', [
        ['rtc:join without pool', () => conn.send('rtc:join', {})],
        ['rtc:join with an empty pool name', () => conn.send('rtc:join', { pool: '' })],
        ['rtc:join with a number for pool', () => conn.send('rtc:join', { pool: 42 })]
      ])
    }
  },
  {
    name: 'invalid-description',
    covers: 'invalid-description',
    async run (ctx) {
      const [a, b] = await ctx.members(2)
      await refused(a.conn, 'invalid-description', [
        ['rtc:sdp with a string description', () => a.conn.send('rtc:sdp', { to: b.id, description: 'v=0' })],
        ['rtc:sdp with a description without sdp', () => a.conn.send('rtc:sdp', { to: b.id, description: { type: 'offer' } })],
        ['rtc:sdp with a null description', () => a.conn.send('rtc:sdp', { to: b.id, description: null })]
      ])
      await receivedNothing(b.conn, 'invalid descriptions were refused')
    }
  },
  {
    name: 'app-events',
    covers: 'application events',
    async run (ctx) {
      const conn = await ctx.open()
      conn.send('chat', { text: 'before joining' })
      await noErrorFor(conn, 'an application event before joining')
      conn.send('rtc:join', { pool: ctx.pool() })
      await conn.expect('rtc:joined')
      conn.send('chat', { text: 'in a pool' })
      conn.send('describe', { name: 'conformance' })
      await noErrorFor(conn, 'an application event in a pool')
    }
  },
  {
    name: 'invalid-frame',
    covers: 'invalid-frame',
    async run (ctx) {
      const conn = await ctx.open()
      await refused(conn, 'invalid-frame', [
        ['a binary frame', () => conn.sendRaw(Buffer.from(JSON.stringify({ type: 'chat', data: {} })), true)],
        ['a JSON array', () => conn.sendRaw('[]')],
        ['a JSON string', () => conn.sendRaw('"rtc:join"')],
        ['a frame without type', () => conn.sendRaw('{"data":{}}')],
        ['a frame whose type is a number', () => conn.sendRaw('{"type":42,"data":{}}')],
        ['a frame whose data is an array', () => conn.sendRaw('{"type":"chat","data":[]}')],
        ['a frame whose data is null', () => conn.sendRaw('{"type":"chat","data":null}')]
      ])
    }
  },
  {
    name: 'invalid-json',
    covers: 'invalid-json',
    async run (ctx) {
      const conn = await ctx.open()
      // Last of the answered checks: PyRTC's loop dies here, and every check after it would too.
      await refused(conn, 'invalid-json', [
        ['a frame that is not JSON', () => conn.sendRaw('{"type": "rtc:join", ')],
        ['another one on the same socket', () => conn.sendRaw('not json')]
      ])
    }
  },
  {
    name: 'empty-pool-removed',
    covers: 'rule 6',
    skip: () => 'not observable from outside: an empty pool leaves no trace on the wire',
    async run () {}
  },
  {
    name: 'rate-limited',
    covers: 'rate-limited',
    skip: (settings) => settings.flood ? null : 'optional: run with --flood to send a burst and expect rate-limited',
    async run (ctx) {
      const conn = await ctx.open()
      for (let i = 0; i < FLOOD_FRAMES && conn.closed === null; i++) conn.send('conformance-flood', { i })
      for (;;) {
        const m = await conn.next(`rtc:error rate-limited after ${FLOOD_FRAMES} frames in one burst`)
        if (m.type === 'rtc:error' && m.data.reason === 'rate-limited') return
        check(m.type !== 'rtc:error', `a burst of ${FLOOD_FRAMES} frames got ${summary(m)}`)
      }
    }
  }
]
