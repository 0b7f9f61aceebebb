// Cross-process relay through Redis against the single-process figure, in the same run.
//
//   npm run build && node bench/cluster.mjs [--pools 60] [--procs 3] [--duration 5] [--rate 20] [--dead]
//
// Starts its own redis-server on a free loopback port (no persistence), and a Redis Cluster of six
// (three masters, a replica each) for the `sharded` setup, and, per setup, fresh server processes
// (this file in --server mode, running dist/). Members of each pool are spread so that in the
// `cluster` and `sharded` setups every pair of a pool is on two different processes.
//
//   single   one process, in-memory adapter: every relay is local (the reference)
//   local    one process, Redis adapter: all members local, so relay still never touches Redis
//   cluster  --procs processes, Redis adapter on one redis-server, member i of each pool on process i:
//            every relay crosses Redis
//   sharded  the same on Redis Cluster (cluster mode: SPUBLISH on each pool's shard)
//
// Targets (CPU per frame, the honest figure when everything shares a few cores): cross-process
// relay <= 1.5x the single process; cluster mode within 10% of one redis-server.
//
// Two phases per setup, each bounded in time and frame count:
//   throughput  every member keeps --window frames in flight (closed loop), round robin over its peers
//   latency     every member sends --rate frames/s (fixed offered load): p50/p99 of relay latency
// Each relayed rtc:candidate carries sequence number and send time: order and exactly-once per pair are checked.
// With --dead: SIGKILL one process of a cluster at the default TTL (10 s) and time until its members' peers get rtc:close.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { medians, pinning, pinningDescription, sleep, startRedis, startRedisCluster, withTimeout } from './lib.mjs'

const here = fileURLToPath(import.meta.url)
const MAX_FRAMES = 5_000_000 // hard cap per phase, whatever the duration

// ---------------------------------------------------------------------------------------------
// Orchestrator

async function startServer (settings) {
  const flags = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []
  const child = spawn(process.execPath, [...flags, here, '--server', JSON.stringify(settings)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  pinning?.server(child.pid)
  const [line] = await withTimeout(once(createInterface({ input: child.stdout }), 'line'), 30_000, 'server start')
  const { port } = JSON.parse(line)
  return {
    url: `ws://127.0.0.1:${port}/rtc`,
    cpu: () => withTimeout(new Promise((resolve) => { child.once('message', (m) => resolve(m.cpu)); child.send({ cmd: 'cpu' }) }), 10_000, 'cpu'),
    kill: async () => { child.kill('SIGKILL'); await once(child, 'exit') },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.send({ cmd: 'exit' })
      await withTimeout(once(child, 'exit'), 10_000, 'server exit').catch(() => child.kill('SIGKILL'))
    }
  }
}

class Member {
  constructor (ws) {
    Object.assign(this, { ws, id: null, peers: [], next: 0, seqTo: new Map(), lastSeq: new Map(), inflight: 0, known: new Set(), closes: [] })
    this.onRelay = null
    ws.on('message', (data) => {
      const msg = JSON.parse(data)
      switch (msg.type) {
        case 'rtc:joined': this.id = msg.data.client_id; for (const p of msg.data.peers) this.known.add(p); this.joined?.(); break
        case 'rtc:peer': this.known.add(msg.data.id); break
        case 'rtc:close': this.known.delete(msg.data.id); this.closes.push({ id: msg.data.id, at: performance.now() }); break
        case 'rtc:candidate': this.onRelay?.(this, msg.data.from, msg.data.candidate.candidate); break
        case 'rtc:error': this.errors = (this.errors ?? 0) + 1; break
      }
    })
  }

  static async join (url, pool) {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    await withTimeout(once(ws, 'open'), 10_000, 'connect')
    const m = new Member(ws)
    const joined = new Promise((resolve) => { m.joined = resolve })
    ws.send(JSON.stringify({ type: 'rtc:join', data: { pool } }))
    await withTimeout(joined, 10_000, 'join')
    return m
  }

  send (to) {
    const seq = (this.seqTo.get(to) ?? 0) + 1
    this.seqTo.set(to, seq)
    this.inflight++
    this.ws.send(`{"type":"rtc:candidate","data":{"for":"${to}","candidate":{"candidate":"${seq}:${performance.now()}","sdpMid":"0"}}}`)
  }
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

/** Runs one phase over the joined members; returns frames/s and latency percentiles, and checks order. */
async function phase (members, { window, rate, seconds, warmup }) {
  const byId = new Map(members.map((m) => [m.id, m]))
  const faults = { order: 0 }
  let measuring = false
  let delivered = 0
  let sent = 0
  const latencies = []
  let stopped = false
  const pick = (m) => { const to = m.peers[m.next % m.peers.length]; m.next++; return to }
  for (const m of members) {
    m.peers = [...m.known]
    m.onRelay = (to, from, text) => {
      const colon = text.indexOf(':')
      const seq = Number(text.slice(0, colon))
      if (seq !== (to.lastSeq.get(from) ?? 0) + 1) faults.order++ // per (sender, receiver), across phases
      to.lastSeq.set(from, seq)
      const sender = byId.get(from)
      sender.inflight--
      if (measuring) {
        delivered++
        latencies.push(performance.now() - Number(text.slice(colon + 1)))
      }
      if (window > 0 && !stopped && sent < MAX_FRAMES) { sent++; sender.send(pick(sender)) }
    }
  }
  let pacer = null
  if (window > 0) {
    for (const m of members) for (let i = 0; i < window; i++) { sent++; m.send(pick(m)) }
  } else {
    const tickMs = 10
    const perTick = (rate * tickMs) / 1000
    let credit = 0
    pacer = setInterval(() => {
      credit += perTick
      while (credit >= 1) {
        credit--
        for (const m of members) if (sent < MAX_FRAMES && m.inflight < 1000) { sent++; m.send(pick(m)) }
      }
    }, tickMs)
  }
  await sleep(warmup * 1000)
  measuring = true
  const t0 = performance.now()
  await sleep(seconds * 1000)
  measuring = false
  const elapsed = (performance.now() - t0) / 1000
  stopped = true
  if (pacer) clearInterval(pacer)
  await withTimeout((async () => { while (members.some((m) => m.inflight > 0)) await sleep(10) })(), 20_000, 'drain in-flight frames')
  latencies.sort((a, b) => a - b)
  return { fps: Math.round(delivered / elapsed), p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), frames: delivered, outOfOrder: faults.order }
}

async function runSetup (name, { procs, redis, cluster, redisCpu, opts }) {
  const prefix = `bench-${name}-${Date.now()}:`
  const servers = []
  for (let i = 0; i < procs; i++) servers.push(await startServer({ redis, cluster, prefix }))
  const members = []
  try {
    for (let p = 0; p < opts.pools; p++) {
      for (let i = 0; i < opts.size; i++) members.push(await Member.join(servers[i % servers.length].url, `pool${p}`))
    }
    await withTimeout((async () => { while (members.some((m) => m.known.size < opts.size - 1)) await sleep(10) })(), 20_000, 'announcements')
    const cpu0 = await Promise.all(servers.map((s) => s.cpu()))
    const redis0 = await redisCpu()
    const throughput = await phase(members, { window: opts.window, seconds: opts.duration, warmup: opts.warmup })
    const cpu1 = await Promise.all(servers.map((s) => s.cpu()))
    const redis1 = await redisCpu()
    const latency = await phase(members, { window: 0, rate: opts.rate, seconds: opts.duration, warmup: opts.warmup })
    const cpu2 = await Promise.all(servers.map((s) => s.cpu()))
    const redis2 = await redisCpu()
    const cpuMs = (to, from, part = (c) => c.user + c.system) => to.reduce((sum, c, i) => sum + (part(c) - part(from[i])) / 1000, 0)
    const cpuPer1k = cpuMs(cpu1, cpu0) / (throughput.frames / 1000) // includes warmup and drain; same for every setup
    const sysPer1k = cpuMs(cpu1, cpu0, (c) => c.system) / (throughput.frames / 1000)
    const pacedPer1k = cpuMs(cpu2, cpu1) / (latency.frames / 1000)
    const redisPer1k = redis0 === null || redis1 === null || (redis === undefined && cluster === undefined) ? null : (redis1 - redis0) / (throughput.frames / 1000)
    const redisPacedPer1k = redisPer1k === null ? null : (redis2 - redis1) / (latency.frames / 1000)
    return { name, procs, throughput, latency, cpuPer1k, sysPer1k, pacedPer1k, redisPer1k, redisPacedPer1k }
  } finally {
    for (const m of members) m.ws.terminate()
    await Promise.all(servers.map((s) => s.stop()))
  }
}

/** SIGKILL one process of a 3-process cluster at the default TTL; time until the peers elsewhere get rtc:close. */
async function deadProcess (redis) {
  const prefix = `bench-dead-${Date.now()}:`
  const servers = []
  for (let i = 0; i < 3; i++) servers.push(await startServer({ redis, prefix }))
  const members = []
  try {
    for (let i = 0; i < 6; i++) members.push(await Member.join(servers[i % 3].url, 'dead'))
    await withTimeout((async () => { while (members.some((m) => m.known.size < 5)) await sleep(10) })(), 20_000, 'announcements')
    const victims = new Set([members[2].id, members[5].id])
    const survivors = members.filter((m) => !victims.has(m.id))
    const t0 = performance.now()
    await servers[2].kill()
    await withTimeout((async () => { while (survivors.some((m) => m.closes.filter((c) => victims.has(c.id)).length < 2)) await sleep(10) })(), 30_000, 'rtc:close for the dead members')
    const times = survivors.flatMap((m) => m.closes.map((c) => c.at - t0))
    await sleep(1000)
    const extra = survivors.reduce((n, m) => n + m.closes.length, 0) - survivors.length * 2
    return { first: Math.min(...times), last: Math.max(...times), duplicateCloses: extra }
  } finally {
    for (const m of members) m.ws.terminate()
    await Promise.all(servers.map((s) => s.stop()))
  }
}

/** One setup's runs as one: the median of each figure (bench/lib.mjs `medians`), frames out of order summed. */
function medianRun (list) {
  const phase = (key) => ({ ...medians(list.map((run) => run[key])), outOfOrder: list.reduce((n, run) => n + run[key].outOfOrder, 0) })
  const { name, procs } = list[0]
  return {
    name,
    procs,
    ...medians(list.map(({ throughput, latency, name, procs, ...figures }) => figures)),
    throughput: phase('throughput'),
    latency: phase('latency')
  }
}

async function main () {
  const { values } = parseArgs({
    options: {
      pools: { type: 'string', default: '60' },
      procs: { type: 'string', default: '3' },
      window: { type: 'string', default: '4' },
      rate: { type: 'string', default: '20' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      dead: { type: 'boolean', default: false },
      setups: { type: 'string', default: 'single,local,cluster,sharded' },
      repeat: { type: 'string', default: '3' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) {
    process.stdout.write('node bench/cluster.mjs [--pools 60] [--procs 3] [--window 4] [--rate 20] [--duration 5] [--warmup 1] [--dead] [--setups single,local,cluster,sharded] [--repeat 3]\n')
    return
  }
  const procs = Number(values.procs)
  const opts = { pools: Number(values.pools), size: procs, window: Number(values.window), rate: Number(values.rate), duration: Number(values.duration), warmup: Number(values.warmup) }
  const chosen = values.setups.split(',')
  pinning?.load()
  const redis = await startRedis()
  const sharded = chosen.includes('sharded') ? await startRedisCluster() : null
  const results = []
  try {
    process.stdout.write(`cluster bench: ${opts.pools} pools of ${opts.size} (${opts.pools * opts.size} clients), ${opts.duration} s per phase, window ${opts.window}, paced phase ${opts.rate} frames/s per member\n`)
    process.stdout.write(`pinning: ${pinningDescription}\n`)
    const none = async () => null
    const setups = {
      single: { procs: 1, redisCpu: none },
      local: { procs: 1, redis: redis.url, redisCpu: redis.cpu },
      cluster: { procs, redis: redis.url, redisCpu: redis.cpu },
      sharded: { procs, cluster: sharded?.nodes, redisCpu: sharded?.cpu }
    }
    for (const name of chosen) if (setups[name] === undefined) throw new Error(`unknown setup ${name} (single, local, cluster, sharded)`)
    // Each setup --repeat times, the order rotated each round; the table holds the medians.
    const runs = Object.fromEntries(chosen.map((name) => [name, []]))
    const repeat = Math.max(1, Number(values.repeat))
    for (let r = 0; r < repeat; r++) {
      for (let k = 0; k < chosen.length; k++) {
        const name = chosen[(k + r) % chosen.length]
        runs[name].push(await runSetup(name, { ...setups[name], opts }))
      }
    }
    for (const name of chosen) results.push(medianRun(runs[name]))
    const base = results[0]
    const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-')
    const load = os.loadavg()[0]
    process.stdout.write(`\nload average ${load.toFixed(1)} on ${os.cpus().length} CPUs${load > os.cpus().length ? ': the machine is busy with other work, so frames/s and latencies mostly measure the scheduler; CPU per frame is the figure to compare' : ''}\n`)
    process.stdout.write('\n| setup | processes | throughput frames/s | vs single | p50 ms at max | p99 ms at max | paced frames/s | p50 ms paced | p99 ms paced | server CPU ms / 1k frames | of which kernel | paced: server CPU ms / 1k frames | redis-server CPU ms / 1k frames | paced: redis-server | out of order |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n')
    for (const r of results) {
      process.stdout.write(`| ${r.name} | ${r.procs} | ${Math.round(r.throughput.fps)} | ${(r.throughput.fps / base.throughput.fps).toFixed(2)}x | ${f(r.throughput.p50)} | ${f(r.throughput.p99)} | ${Math.round(r.latency.fps)} | ${f(r.latency.p50)} | ${f(r.latency.p99)} | ${f(r.cpuPer1k)} | ${f(r.sysPer1k)} | ${f(r.pacedPer1k)} | ${r.redisPer1k === null ? '-' : f(r.redisPer1k)} | ${r.redisPacedPer1k === null ? '-' : f(r.redisPacedPer1k)} | ${r.throughput.outOfOrder + r.latency.outOfOrder} |\n`)
    }
    const by = Object.fromEntries(results.map((r) => [r.name, r]))
    if (repeat > 1) {
      process.stdout.write(`\nmedians of ${repeat} runs per setup; server CPU ms / 1k frames, each run: ${chosen.map((name) => `${name} ${runs[name].map((run) => f(run.cpuPer1k)).join(', ')}`).join('; ')}\n`)
    }
    const target = (label, x, limit) => process.stdout.write(`${label}: ${Number.isFinite(x) ? `${x.toFixed(2)}x` : '-'} (target <= ${limit.toFixed(2)}x) ${x <= limit ? 'PASS' : 'MISS'}\n`)
    process.stdout.write('\nTargets (server CPU per frame, all processes):\n')
    if (by.single && by.cluster) target('cross-process relay on one redis-server vs one process', by.cluster.cpuPer1k / by.single.cpuPer1k, 1.5)
    if (by.single && by.sharded) target('cross-process relay on Redis Cluster vs one process', by.sharded.cpuPer1k / by.single.cpuPer1k, 1.5)
    if (by.cluster && by.sharded) {
      target('Redis Cluster vs one redis-server (server CPU per frame)', by.sharded.cpuPer1k / by.cluster.cpuPer1k, 1.1)
      process.stdout.write(`Redis CPU per 1k frames: one redis-server ${f(by.cluster.redisPer1k)} ms, Redis Cluster (six servers) ${f(by.sharded.redisPer1k)} ms\n`)
    }
    if (values.dead) {
      const dead = await deadProcess(redis.url)
      process.stdout.write(`\nSIGKILLed process (default ttl 10 s): its members' peers got rtc:close after ${(dead.first / 1000).toFixed(2)}–${(dead.last / 1000).toFixed(2)} s; duplicate closes: ${dead.duplicateCloses}\n`)
    }
  } finally {
    await redis.stop()
    await sharded?.stop()
  }
}

// ---------------------------------------------------------------------------------------------
// Server mode: one signalling process

async function serve () {
  const settings = JSON.parse(process.argv[3])
  const mod = await import(path.join(path.dirname(here), '..', 'dist', 'index.js'))
  const rtcSignal = typeof mod.default === 'function' ? mod.default : mod.default.default
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  await app.register(rtcSignal, {
    privatePools: false,
    rateLimit: false, // the closed-loop phase offers more than the default 500 frames/s per connection
    heartbeatInterval: 0,
    maxConnections: 0, // every client connects from 127.0.0.1
    maxConnectionsPerIp: 0,
    adapter: settings.redis || settings.cluster
      ? mod.redisAdapter({ ...(settings.cluster ? { cluster: settings.cluster } : { url: settings.redis }), prefix: settings.prefix, ...(settings.ttl ? { ttl: settings.ttl } : {}) })
      : undefined
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`)
  process.on('message', async (msg) => {
    if (msg.cmd === 'cpu') process.send({ cpu: process.cpuUsage() })
    if (msg.cmd === 'exit') { await app.close(); process.exit(0) }
  })
  process.on('disconnect', () => process.exit(0))
}

if (process.argv[2] === '--server') await serve()
else await main()
