// Shared helpers: server processes, ws clients that speak ssp-v2, the relay
// load generator with its exactly-once / in-order checks, statistics, tables.
import { execFile, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import WebSocket from 'ws'
import { pairFrames, readMark } from './sdp.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

export function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * CPU pinning (Linux, `taskset`, 2 CPUs or more; off with BENCH_PIN=0): the load generator (the
 * orchestrator, and the redis-servers it starts after `pinning.load()`) on CPU 0, every server under
 * test on the other CPUs. Left to the scheduler, the servers, the load generator and Redis trade
 * places on the cores, and each switch costs the server cache misses that land in its CPU time
 * per frame: the same build measured 15.7 or 23 ms per 1,000 frames from one run to the next, and
 * three app processes measured 2.3 to 2.8x one process's CPU per frame unpinned against 1.2 to 1.7x pinned.
 */
export const pinning = (() => {
  if (process.env.BENCH_PIN === '0' || process.platform !== 'linux' || os.cpus().length < 2) return null
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' })
  } catch {
    return null
  }
  const servers = os.cpus().length === 2 ? '1' : `1-${os.cpus().length - 1}`
  const pin = (pid, cpus) => execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' })
  return {
    describe: `load generator and Redis on CPU 0, servers under test on CPU ${servers} (BENCH_PIN=0: no pinning)`,
    /** This process, its threads and what it starts from now on: CPU 0. */
    load: () => pin(process.pid, '0'),
    /** A server under test (all its threads): the other CPUs. */
    server: (pid) => pin(pid, servers)
  }
})()

/** What the output says of pinning. */
export const pinningDescription = pinning?.describe ?? 'none (taskset missing, one CPU, or BENCH_PIN=0)'

/** The median of each numeric figure over a list of flat objects (null where none is a number). */
export function medians (list) {
  const keys = new Set(list.flatMap((m) => Object.keys(m)))
  return Object.fromEntries([...keys].map((k) => {
    const v = list.map((m) => m[k]).filter(Number.isFinite).sort((a, b) => a - b)
    const mid = v.length >> 1
    return [k, v.length === 0 ? null : v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2]
  }))
}

/** Polls `test` every 5 ms until it holds; rejects after `ms`. */
export function waitFor (test, ms, what) {
  return withTimeout(new Promise((resolve) => {
    const poll = () => (test() ? resolve() : setTimeout(poll, 5))
    poll()
  }), ms, what)
}

/**
 * Starts `bench/servers/KIND.mjs` in its own process (with --expose-gc) and
 * returns its WebSocket URL, `stats({ gc })` (the server's own cpuUsage and
 * memoryUsage, over IPC), `command(cmd, args)`, `profile(label)` (starts a CPU profile of the
 * server when `profileDir` is set; call the returned function to write it) and `stop()`.
 */
export async function startServer (kind, { options = {}, profileDir = null } = {}) {
  const child = spawn(process.execPath, ['--expose-gc', path.join(here, 'servers', `${kind}.mjs`), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc']
  })
  pinning?.server(child.pid)
  const exited = once(child, 'exit').then(([code]) => { throw new Error(`${kind} server exited (${code})`) })
  exited.catch(() => {})
  const [line] = await withTimeout(Promise.race([once(createInterface({ input: child.stdout }), 'line'), exited]), 30_000, `${kind} start`)
  const { port, path: route } = JSON.parse(line)
  let seq = 0
  const pending = new Map()
  child.on('message', (msg) => {
    pending.get(msg.id)?.(msg)
    pending.delete(msg.id)
  })
  const request = (cmd, args = {}) => withTimeout(Promise.race([new Promise((resolve) => {
    const id = ++seq
    pending.set(id, resolve)
    child.send({ id, cmd, ...args })
  }), exited]), 60_000, `${kind} ${cmd}`)
  return {
    kind,
    pid: child.pid,
    url: `ws://127.0.0.1:${port}${route}`,
    stats: ({ gc = false } = {}) => request('stats', { gc }),
    /** Any other command the server answers (servers/plugin.mjs: `until-suspended`). */
    command: request,
    async profile (label) {
      if (!profileDir) return async () => {}
      mkdirSync(profileDir, { recursive: true })
      await request('profile-start')
      return () => request('profile-stop', { file: path.join(profileDir, `${label}-${kind}-${++profiles}.cpuprofile`) })
    },
    async stop () {
      if (child.exitCode !== null) return
      child.send({ cmd: 'exit' })
      await withTimeout(once(child, 'exit'), 20_000, `${kind} exit`).catch(() => child.kill('SIGKILL'))
    }
  }
}
let profiles = 0

// Redis for the benches that scale out (cluster.mjs, resume.mjs): a redis-server, or a Redis Cluster of six,
// on free loopback ports, without persistence, stopped by pid.

const run = promisify(execFile)

export async function freePort () {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

/** A redis-server on `port` (a free one by default) with `args` added; `stop()` ends it by its pid. */
export async function startRedis (port, args = []) {
  port ??= await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...args], { stdio: ['ignore', 'ignore', 'inherit'] })
  process.once('exit', () => child.kill('SIGKILL')) // never leave it behind, even on a crash
  const failed = once(child, 'error').then(([err]) => { throw new Error(`redis-server: ${err.message} (install the redis-server package)`) })
  failed.catch(() => {})
  const deadline = Date.now() + 10_000
  for (;;) {
    const ok = await Promise.race([failed, new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })])
    if (ok) break
    if (Date.now() > deadline) throw new Error('redis-server did not start')
    await sleep(20)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    /** redis-server's CPU time in ms (Linux /proc; null elsewhere). */
    cpu: async () => {
      try {
        const fields = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1].split(' ')
        return (Number(fields[11]) + Number(fields[12])) * 10 // utime + stime, in ticks of 10 ms
      } catch {
        return null
      }
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  }
}

async function portFree (port) {
  const server = net.createServer()
  server.listen(port, '127.0.0.1')
  const ok = await Promise.race([once(server, 'listening').then(() => true), once(server, 'error').then(() => false)])
  if (ok) { server.close(); await once(server, 'close') }
  return ok
}

/** Six redis-servers (three masters, a replica each) joined by redis-cli; CPU time summed over all six. */
export async function startRedisCluster () {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rtc-bench-cluster-'))
  const ports = []
  for (let i = 0; ports.length < 6 && i < 200; i++) {
    const port = await freePort()
    if (port <= 55535 && !ports.includes(port) && await portFree(port + 10000)) ports.push(port)
  }
  const servers = []
  try {
    for (const port of ports) servers.push(await startRedis(port, ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir]))
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'])
    const deadline = Date.now() + 30_000
    for (;;) {
      const infos = await Promise.all(ports.map((p) => run('redis-cli', ['-p', String(p), 'cluster', 'info']).then((r) => r.stdout, () => '')))
      if (infos.every((i) => i.includes('cluster_state:ok'))) break
      if (Date.now() > deadline) throw new Error('Redis Cluster did not settle')
      await sleep(100)
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()))
    throw err
  }
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    cpu: async () => {
      const all = await Promise.all(servers.map((s) => s.cpu()))
      return all.includes(null) ? null : all.reduce((a, b) => a + b, 0)
    },
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()))
      await rm(dir, { recursive: true, force: true })
    }
  }
}

const zeroMask = (mask) => mask.fill(0) // loopback: spare the load generator the masking
const TEXT = { binary: false }

/** One ssp-v2 client: joins a pool and records everything the server tells it. */
export class Member {
  constructor (ws, index, pool) {
    Object.assign(this, { ws, index, pool, id: null, peers: null, resume: null, announced: [], closes: new Map(), errors: [], joinedAt: 0 })
    this.relay = null // set by Relay: relayed frames go there
    ws.on('message', (data) => this.onMessage(data))
    ws.on('error', (err) => this.errors.push(`socket: ${err.message}`))
  }

  static async connect (url, index, pool) {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, generateMask: zeroMask })
    await withTimeout(once(ws, 'open'), 30_000, 'connect')
    return new Member(ws, index, pool)
  }

  /** With `resume`, asks to be resumable: `this.resume` is then `{ token, graceMs }`. */
  join ({ resume = false } = {}) {
    this.ws.send(JSON.stringify({ type: 'rtc:join', data: resume ? { pool: this.pool, resume: true } : { pool: this.pool } }))
    return new Promise((resolve, reject) => { this.onJoined = { resolve, reject } })
  }

  onMessage (buf) {
    if (this.relay !== null) {
      const mark = readMark(buf)
      if (mark !== null) return this.relay.receive(this, buf, mark)
    }
    let msg
    try { msg = JSON.parse(buf.toString()) } catch { return this.errors.push('invalid JSON from server') }
    const data = msg.data
    switch (msg.type) {
      case 'rtc:joined':
        this.id = data.client_id
        this.peers = data.peers
        this.resume = data.resume ?? null
        this.joinedAt = performance.now()
        return this.onJoined?.resolve(this)
      case 'rtc:peer': return this.announced.push(data.id)
      case 'rtc:close': return this.closes.set(data.id, (this.closes.get(data.id) ?? 0) + 1)
      case 'rtc:error':
        this.errors.push(data.reason)
        return this.onJoined?.reject(new Error(`join refused: ${data.reason}`))
      default: if (msg.type !== 'rtc:describe') this.errors.push(`unexpected ${msg.type}`)
    }
  }

  /** Every member of its pool it has been told of. */
  get known () { return (this.peers?.length ?? 0) + this.announced.length }

  close () {
    this.ws.close()
    return once(this.ws, 'close')
  }
}

/** Connects and joins `count` members (member i joins `poolOf(i)`; none with `join: false`; resumable with `resume`), at most `concurrency` in flight. */
export async function joinMany (url, count, poolOf, { concurrency = 200, timeout = 180_000, first = 0, join = true, resume = false } = {}) {
  const members = new Array(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const member = await Member.connect(url, first + i, poolOf(first + i))
      members[i] = member
      if (join) await member.join({ resume })
    }
  }
  await withTimeout(Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker)), timeout, `${count} joins`)
  return members
}

/** Groups members by pool, in index order. */
export function byPool (members) {
  const pools = new Map()
  for (const m of members) {
    if (!pools.has(m.pool)) pools.set(m.pool, [])
    pools.get(m.pool).push(m)
  }
  return [...pools.values()]
}

/** Resolves once every member has been told of every other member of its pool. */
export function allAnnounced (members, ms = 60_000) {
  const size = new Map()
  for (const m of members) size.set(m.pool, (size.get(m.pool) ?? 0) + 1)
  return waitFor(() => members.every((m) => m.known === size.get(m.pool) - 1), ms, 'rtc:peer announcements')
}

export function terminate (members) {
  for (const m of members) m?.ws.terminate()
}

/**
 * The relay load: each member sends negotiation bursts (one `rtc:sdp` offer,
 * then `burst` `rtc:candidate`s) to each peer of its pool in turn, with at most
 * `window` frames of its own in flight and at most `rate` frames/s (token
 * bucket; 0: unpaced). `perPair` (0: unbounded) caps the frames per pair;
 * `maxFrames` and `maxSeconds` bound the whole load whatever the caller does.
 * Every relayed frame carries PAIR.SEQ.MICROS: the receiver checks pair,
 * sender id, order and exactly-once, and records the latency.
 */
export class Relay {
  constructor (members, { window = 8, burst = 4, rate = 0, perPair = 0, maxFrames = 50_000_000, maxSeconds = 600 } = {}) {
    Object.assign(this, { window, burst, rate, perPair, budget: maxFrames, maxSeconds })
    this.pairs = []
    this.senders = new Map()
    for (const pool of byPool(members)) {
      for (const from of pool) {
        const s = { member: from, targets: [], t: 0, step: 0, inflight: 0, done: false, tokens: window, last: 0, timer: null }
        for (const to of pool) {
          if (to === from) continue
          s.targets.push(this.pairs.length)
          this.pairs.push({ from, to, sender: s, fromId: Buffer.from(from.id), frames: pairFrames(to.id) })
        }
        this.senders.set(from, s)
        from.relay = this
      }
    }
    this.sent = new Int32Array(this.pairs.length)
    this.received = new Int32Array(this.pairs.length)
    this.faults = { misrouted: 0, wrongSender: 0, duplicate: 0, gap: 0 }
    this.running = false
    this.measuring = false
    this.delivered = 0
    this.latencies = []
  }

  start () {
    this.running = true
    this.deadline = setTimeout(() => this.stop(), this.maxSeconds * 1000)
    for (const s of this.senders.values()) this.pump(s)
  }

  stop () {
    this.running = false
    clearTimeout(this.deadline)
    for (const s of this.senders.values()) clearTimeout(s.timer)
  }

  /** Starts counting deliveries and latencies; returns a function that stops and reports them. */
  measure () {
    this.delivered = 0
    this.latencies = []
    this.measuring = true
    const t0 = performance.now()
    return () => {
      this.measuring = false
      return { frames: this.delivered, seconds: (performance.now() - t0) / 1000, latencies: this.latencies }
    }
  }

  get inflight () {
    let n = 0
    for (const s of this.senders.values()) n += s.inflight
    return n
  }

  pump (s) {
    while (this.running && s.inflight < this.window && this.budget > 0 && !s.done) {
      if (this.rate > 0 && !this.take(s)) return
      const p = s.targets[s.t]
      if (this.perPair > 0 && this.sent[p] >= this.perPair) {
        if (s.targets.every((q) => this.sent[q] >= this.perPair)) s.done = true
        s.t = (s.t + 1) % s.targets.length
        s.step = 0
        continue
      }
      const pair = this.pairs[p]
      const mark = `${p}.${++this.sent[p]}.${Math.round(performance.now() * 1000)}`
      s.member.ws.send(s.step === 0 ? pair.frames.sdp(mark) : pair.frames.candidate(mark), TEXT)
      s.inflight++
      this.budget--
      if (++s.step > this.burst) {
        s.step = 0
        s.t = (s.t + 1) % s.targets.length
      }
    }
  }

  take (s) {
    const now = performance.now()
    s.tokens = Math.min(this.window, s.tokens + (now - s.last) * this.rate / 1000)
    s.last = now
    if (s.tokens >= 1) {
      s.tokens--
      return true
    }
    if (s.timer === null) {
      s.timer = setTimeout(() => {
        s.timer = null
        this.pump(s)
      }, Math.ceil((1 - s.tokens) * 1000 / this.rate))
    }
    return false
  }

  receive (member, buf, [p, seq, micros]) {
    const pair = this.pairs[p]
    if (pair === undefined || pair.to !== member) {
      this.faults.misrouted++
      return
    }
    if (!buf.includes(pair.fromId)) this.faults.wrongSender++
    const last = this.received[p]
    if (seq === last + 1) this.received[p] = seq
    else if (seq <= last) this.faults.duplicate++
    else {
      this.faults.gap++
      this.received[p] = seq
    }
    if (this.measuring) {
      this.delivered++
      this.latencies.push(performance.now() - micros / 1000)
    }
    pair.sender.inflight--
    this.pump(pair.sender)
  }

  /** After a drain: the problems found, as strings (empty: every frame arrived once, in order, at the right peer). */
  verify () {
    const problems = Object.entries(this.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k}: ${n}`)
    let lost = 0
    for (let p = 0; p < this.pairs.length; p++) lost += this.sent[p] - this.received[p]
    if (lost > 0) problems.push(`not delivered: ${lost}`)
    return problems
  }

  get totalSent () {
    return this.sent.reduce((a, b) => a + b, 0)
  }
}

/** Errors the members received (rtc:error reasons, socket errors), counted. */
export function errorTally (members) {
  const tally = {}
  for (const m of members) for (const e of m.errors) tally[e] = (tally[e] ?? 0) + 1
  return Object.entries(tally).map(([e, n]) => `${e} ×${n}`)
}

export function percentiles (samples) {
  const sorted = Float64Array.from(samples).sort()
  const at = (q) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length ? sorted[sorted.length - 1] : NaN }
}

export function cpuMs (before, after) {
  return (after.cpu.user - before.cpu.user + after.cpu.system - before.cpu.system) / 1000
}

/** Plain-text table; `rows` are arrays of cells, the first row is the header. */
export function table (rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}
