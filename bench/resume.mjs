#!/usr/bin/env node
// Resume after a blip, measured (issue 11, docs/protocol.md "Resume after a blip"): the time from a cut
// socket to rtc:resumed and to the last replayed frame, and what a suspended member costs in memory, in
// the server and in Redis. There is no target: these are figures.
//
//   npm run bench:resume                      (builds first)
//   node bench/resume.mjs [--runs 30] [--held 0,10,100] [--members 1000] [--setups memory,redis,cluster]
//                         [--no-memory] [--max-seconds 900]
//
// Every server is a child process running dist/ as the other benches do (bench/servers/plugin.mjs: the
// plugin as deployed, info logs to /dev/null); the clients run here, on loopback.
//
// Setups:
//   memory   one process, memory adapter: the member resumes on the process it was on
//   redis    two processes on one redis-server (started here): the member A and its peer B on `one`, an
//            observer C on `two`; A resumes on `two` (it moves there; `one` hands over the frames it held)
//   cluster  the same over a Redis Cluster started here (six redis-servers, three masters with a replica each)
//
// A run: B (and C) join a fresh pool, then A joins with resume: true; A's TCP socket is destroyed (no close
// frame: the server sees 1006). Two kinds of runs:
//   at once  A opens a new socket and sends rtc:resume in the same tick as the cut: times from the cut (the
//            server may not have seen the cut yet: then the resume takes the member over, as half-open)
//   held K   once the server reports A suspended, B sends K rtc:candidates to A, and B's answer to a probe
//            says they were all read (held for A); then A opens a new socket: times from that moment.
//            `suspended` is the time from the cut to the server's suspend event (its clock, same machine).
// For reference, every run also times A's own join before the cut: new socket -> rtc:joined.
// Checks in every run: after rtc:resumed A gets exactly the K candidates, in order, from B, and nothing more
// before the answer to its own probe; B and C get nothing but their probes' answers (no rtc:close, no
// rtc:peer). Failures are counted and printed.
//
// Memory: --members (1000) members join with resume: true (pools of 4), then every socket is cut; the
// server's heap and RSS after a forced GC, before / with them connected / with them suspended, per member;
// with the Redis adapter also Redis's used_memory and MEMORY USAGE of the keys by kind (`rs:` is the hash of
// resume token hashes), per member.
import { once } from 'node:events'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { allAnnounced, joinMany, percentiles, startRedis, startRedisCluster, startServer, table, terminate, withTimeout } from './lib.mjs'

const WAIT_MS = 10_000 // any one wait of a run
const POOL = 4 // members per pool in the memory measurement
const SERVER = { resume: { graceMs: 60_000 }, drain: { windowMs: 0, deadlineMs: 1000 } }

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    held: { type: 'string', default: '0,10,100' },
    members: { type: 'string', default: '1000' },
    setups: { type: 'string', default: 'memory,redis,cluster' },
    'no-memory': { type: 'boolean', default: false },
    'max-seconds': { type: 'string', default: '900' },
    help: { type: 'boolean', default: false }
  }
})
if (values.help) {
  process.stdout.write('node bench/resume.mjs [--runs 30] [--held 0,10,100] [--members 1000] [--setups memory,redis,cluster] [--no-memory] [--max-seconds 900]\n')
  process.exit(0)
}
const o = {
  runs: Number(values.runs),
  held: values.held.split(',').map(Number),
  members: Number(values.members),
  setups: values.setups.split(','),
  memory: !values['no-memory'],
  deadline: performance.now() + Number(values['max-seconds']) * 1000
}
for (const s of o.setups) if (!['memory', 'redis', 'cluster'].includes(s)) throw new Error(`unknown setup ${s} (memory, redis, cluster)`)

/** A client socket that keeps every message with its arrival time. */
class Peer {
  constructor (ws) {
    Object.assign(this, { ws, id: null, joinedAt: 0, got: [], waiters: new Set() })
    ws.on('message', (data) => {
      this.got.push({ at: performance.now(), msg: JSON.parse(data) })
      for (const w of this.waiters) w()
    })
    ws.on('error', () => {}) // a cut socket may report one; the run's checks say what went wrong
  }

  /** Opens a socket to `url`; `first` (type, data) is sent as soon as it is open. */
  static async open (url, first = null) {
    const peer = new Peer(new WebSocket(url, { perMessageDeflate: false }))
    await withTimeout(once(peer.ws, 'open'), WAIT_MS, 'connect')
    if (first !== null) peer.send(...first)
    return peer
  }

  send (type, data) {
    this.ws.send(JSON.stringify({ type, data }))
  }

  /** The first message from index `from` on that `test` accepts: `{ at, msg, index }`. */
  until (test, from, what) {
    let look
    return withTimeout(new Promise((resolve) => {
      look = () => {
        for (; from < this.got.length; from++) {
          if (test(this.got[from].msg)) return resolve({ ...this.got[from], index: from })
        }
      }
      this.waiters.add(look)
      look()
    }), WAIT_MS, what).finally(() => this.waiters.delete(look))
  }

  async join (pool, resume = false) {
    const from = this.got.length
    this.send('rtc:join', resume ? { pool, resume: true } : { pool })
    const { msg, at } = await this.until((m) => m.type === 'rtc:joined' || m.type === 'rtc:error', from, 'rtc:joined')
    if (msg.type !== 'rtc:joined') throw new Error(`join refused: ${msg.data.reason}`)
    this.id = msg.data.client_id
    this.joinedAt = at
    return msg.data
  }

  /** An rtc:sdp without a target: its rtc:error comes after everything the server had for this socket before it. */
  probe () {
    const from = this.got.length
    this.send('rtc:sdp', {})
    return this.until(isProbeAnswer, from, 'probe answer')
  }

  /** Closes (or, when already broken, destroys) the socket; resolves once it is closed. */
  async end () {
    if (this.ws.readyState === WebSocket.CLOSED) return
    const closed = once(this.ws, 'close')
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close()
    else this.ws.terminate()
    await withTimeout(closed, WAIT_MS, 'close').catch(() => this.ws.terminate())
  }
}

const isProbeAnswer = (m) => m.type === 'rtc:error' && m.data.reason === 'missing-target'
/** Cuts the TCP connection under the socket: no close frame. */
const cut = (peer) => peer.ws._socket.destroy()
const candidate = (i) => ({ candidate: `k:${i}`, sdpMid: '0' })

/**
 * One resume: `k` frames held (null: at once, none). `at` is where A and B are, `observer` where C is
 * (null: no C), `to` where A resumes. Resolves with the times (ms) and the problems found.
 */
async function resumeOnce ({ at, observer, to }, k, pool) {
  const opened = []
  const open = async (server, first) => {
    const peer = await Peer.open(server.url, first)
    opened.push(peer)
    return peer
  }
  try {
    const b = await open(at)
    await b.join(pool)
    const c = observer === null ? null : await open(observer)
    await c?.join(pool)
    const joinStart = performance.now()
    const a = await open(at)
    const joined = await a.join(pool, true)
    const join = a.joinedAt - joinStart
    if (joined.resume === undefined) throw new Error('rtc:joined has no resume offer')
    const isJoin = (m) => m.type === 'rtc:peer' && m.data.id === a.id
    await b.until(isJoin, 0, 'B told of A')
    await c?.until(isJoin, 0, 'C told of A')
    const watched = [['B', b, b.got.length], ...(c === null ? [] : [['C', c, c.got.length]])]
    const received = a.got.filter(({ msg }) => msg.type !== 'rtc:joined').length
    const resume = ['rtc:resume', { token: joined.resume.token, received }]
    let t0
    let suspended = null
    let pending
    if (k === null) {
      t0 = performance.now()
      cut(a)
      pending = open(to, resume)
    } else {
      const cutAt = performance.timeOrigin + performance.now()
      cut(a)
      const { result } = await at.command('until-suspended', { member: a.id, ms: WAIT_MS })
      if (result === null) throw new Error(`not suspended within ${WAIT_MS} ms`)
      suspended = result - cutAt
      for (let i = 0; i < k; i++) b.send('rtc:candidate', { for: a.id, candidate: candidate(i) })
      await b.probe()
      t0 = performance.now()
      pending = open(to, resume)
    }
    const s = await pending
    const answer = await s.until((m) => m.type === 'rtc:resumed' || m.type === 'rtc:error', 0, 'rtc:resumed')
    if (answer.msg.type !== 'rtc:resumed') throw new Error(`resume answered ${answer.msg.type} ${answer.msg.data.reason}`)
    const n = k ?? 0
    const last = n === 0 ? answer : await s.until((m) => m.type === 'rtc:candidate' && m.data.candidate?.candidate === `k:${n - 1}`, answer.index, `frame k:${n - 1}`)
    const problems = []
    if (answer.msg.data.client_id !== a.id) problems.push('resumed under another id')
    const probe = await s.probe()
    const after = s.got.slice(answer.index + 1, probe.index).map(({ msg }) => msg)
    const exact = after.length === n && after.every((m, i) => m.type === 'rtc:candidate' && m.data.from === b.id && m.data.candidate.candidate === `k:${i}`)
    if (!exact) problems.push(`A got ${after.length} frames (${summary(after)}) instead of the ${n} held, in order, from B`)
    for (const [name, peer, from] of watched) {
      await peer.probe()
      const seen = peer.got.slice(from).map(({ msg }) => msg).filter((m) => !isProbeAnswer(m))
      if (seen.length > 0) problems.push(`${name} saw ${summary(seen)}`)
    }
    return { join, suspended, resumed: answer.at - t0, last: last.at - t0, problems }
  } finally {
    await Promise.all(opened.map((p) => p.end()))
  }
}

/** Message types with their counts, in order of first appearance. */
function summary (msgs) {
  const counts = new Map()
  for (const m of msgs) counts.set(m.type, (counts.get(m.type) ?? 0) + 1)
  return [...counts].map(([t, c]) => `${t} ×${c}`).join(', ') || 'nothing'
}

/** Every kind of run, `o.runs` times, interleaved (so that a busy moment spreads over every kind). */
async function timings (name, where) {
  const kinds = [null, ...o.held]
  const rows = kinds.map((k) => ({ k, join: [], suspended: [], resumed: [], last: [], failures: [], runs: 0 }))
  for (let i = 0; i < o.runs && performance.now() < o.deadline; i++) {
    for (const row of rows) {
      row.runs++
      try {
        const r = await resumeOnce(where, row.k, `${name}-${i}-${row.k ?? 'now'}`)
        row.join.push(r.join)
        if (r.suspended !== null) row.suspended.push(r.suspended)
        row.resumed.push(r.resumed)
        row.last.push(r.last)
        if (r.problems.length > 0) row.failures.push(`run ${i}: ${r.problems.join('; ')}`)
      } catch (err) {
        row.failures.push(`run ${i}: ${err.message}`)
      }
    }
  }
  return rows.map((row) => ({ setup: name, ...row }))
}

const ms = (samples) => {
  if (samples.length === 0) return '-'
  const { p50, p90, max } = percentiles(samples)
  return `${p50.toFixed(2)} / ${p90.toFixed(2)} / ${max.toFixed(2)}`
}

/** Redis's used_memory, and MEMORY USAGE of the keys under `prefix` summed by kind (the name up to its first ':' or '{'). */
async function redisMemory (redis, prefix) {
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1])
  const kinds = {}
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const kind = /^[^:{]*/.exec(key.slice(prefix.length))[0]
      kinds[kind] = (kinds[kind] ?? 0) + Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))
    }
  } while (cursor !== '0')
  return { used, kinds }
}

/** M resumable members, connected then cut: the server's memory (and Redis's) per member. */
async function memoryCost (name, redisUrl) {
  const prefix = `bench-resume-mem-${Date.now()}:`
  const redis = redisUrl === null ? null : new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis?.connect()
  const options = { ...SERVER, resume: { graceMs: 600_000 }, ...(redisUrl === null ? {} : { redis: { url: redisUrl, prefix } }) }
  const server = await startServer('plugin', { options })
  let members = []
  try {
    const mem = [(await server.stats({ gc: true })).mem]
    const red = redis === null ? [] : [await redisMemory(redis, prefix)]
    members = await joinMany(server.url, o.members, (i) => `m${Math.floor(i / POOL)}`, { resume: true, concurrency: 100 })
    if (members.some((m) => m.resume === null)) throw new Error('a join got no resume offer')
    await allAnnounced(members)
    mem.push((await server.stats({ gc: true })).mem)
    if (redis !== null) red.push(await redisMemory(redis, prefix))
    terminate(members)
    const { result } = await server.command('until-suspended', { count: o.members, ms: 120_000 })
    if (result === null) throw new Error(`${o.members} members not suspended within 120 s`)
    mem.push((await server.stats({ gc: true })).mem)
    if (redis !== null) red.push(await redisMemory(redis, prefix))
    return { name, mem, red }
  } finally {
    terminate(members)
    await server.stop()
    redis?.disconnect()
  }
}

async function main () {
  const load = () => `load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`
  process.stdout.write(`resume bench: ${o.runs} runs per row, held ${o.held.join(', ')} frames, ${o.members} suspended members for memory; ${load()}\n` +
    'No targets: these are figures. The machine may be shared with other work: times are wall clock on loopback.\n')
  const rows = []
  const needRedis = o.setups.includes('redis') || o.memory
  const redis = needRedis ? await startRedis() : null
  const cluster = o.setups.includes('cluster') ? await startRedisCluster() : null
  try {
    for (const name of o.setups) {
      const prefix = `bench-resume-${name}-${Date.now()}:`
      const options = name === 'memory' ? SERVER : { ...SERVER, redis: name === 'redis' ? { url: redis.url, prefix } : { cluster: cluster.nodes, prefix } }
      const servers = []
      try {
        servers.push(await startServer('plugin', { options }))
        if (name !== 'memory') servers.push(await startServer('plugin', { options }))
        const [one, two = null] = servers
        rows.push(...await timings(name, { at: one, observer: two, to: two ?? one }))
      } finally {
        await Promise.all(servers.map((s) => s.stop()))
      }
    }
    process.stdout.write(`\nResume timings (ms, median / p90 / max; ${load()}):\n` +
      '  at once: cut and resume in the same tick, times from the cut; held K: K frames held while suspended, times from the new socket;\n' +
      '  fresh join: the same member\'s join before the cut, new socket → rtc:joined (for reference)\n\n')
    process.stdout.write(table([
      ['setup', 'run', 'runs', 'failed', 'fresh join', 'cut → suspended', 'from', '→ rtc:resumed', '→ last replayed frame'],
      ...rows.map((r) => [r.setup, r.k === null ? 'at once' : `held ${r.k}`, r.runs, r.failures.length, ms(r.join), ms(r.suspended), r.k === null ? 'cut' : 'new socket', ms(r.resumed), r.k ? ms(r.last) : '-'])
    ]) + '\n')
    const failures = rows.flatMap((r) => r.failures.map((f) => `${r.setup} ${r.k === null ? 'at once' : `held ${r.k}`} ${f}`))
    process.stdout.write(failures.length === 0 ? '\nchecks: OK (every replay exact and in order; the peers saw nothing)\n' : `\nchecks: ${failures.length} failed runs\n${failures.map((f) => `  ${f}\n`).join('')}`)

    if (o.memory) {
      const costs = [await memoryCost('memory', null), await memoryCost('redis', redis.url)]
      const per = (a, b, key) => ((b[key] - a[key]) / o.members).toFixed(0)
      process.stdout.write(`\nMemory per member, ${o.members} resumable members in pools of ${POOL} (bytes; after a forced GC; vs the server before they joined):\n\n`)
      process.stdout.write(table([
        ['adapter', 'heap connected', 'heap suspended', 'RSS connected', 'RSS suspended', 'external suspended'],
        ...costs.map(({ name, mem: [m0, m1, m2] }) => [name, per(m0, m1, 'heapUsed'), per(m0, m2, 'heapUsed'), per(m0, m1, 'rss'), per(m0, m2, 'rss'), per(m0, m2, 'external')])
      ]) + '\n')
      const [r0, r1, r2] = costs[1].red
      const perKind = (r, kind) => (((r.kinds[kind] ?? 0) - (r0.kinds[kind] ?? 0)) / o.members).toFixed(0)
      // the kinds that grow with the members (not the process's own keys: alive, nodes, seq, epoch)
      const kinds = [...new Set([...Object.keys(r1.kinds), ...Object.keys(r2.kinds)])].sort().filter((k) => perKind(r2, k) !== '0' || perKind(r1, k) !== '0')
      process.stdout.write('\nRedis per member (bytes): used_memory delta, and MEMORY USAGE of the keys by kind (rs: the resume token hashes)\n\n')
      process.stdout.write(table([
        ['members', 'used_memory', ...kinds],
        ['connected', ((r1.used - r0.used) / o.members).toFixed(0), ...kinds.map((k) => perKind(r1, k))],
        ['suspended', ((r2.used - r0.used) / o.members).toFixed(0), ...kinds.map((k) => perKind(r2, k))]
      ]) + '\n')
    }
  } finally {
    await redis?.stop()
    await cluster?.stop()
  }
}

await main()
