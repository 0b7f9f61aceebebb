// The scenarios. Each runs against one server process and returns
// { metrics, problems }: figures for the table, and what its checks found.
import os from 'node:os'
import {
  Relay, allAnnounced, byPool, cpuMs, errorTally, joinMany, percentiles, sleep, terminate, waitFor
} from './lib.mjs'

const inPools = (size, prefix = 'p') => (i) => `${prefix}${Math.floor(i / size)}`
const mb = (bytes) => bytes / 1048576
export const machineBusyMs = () => os.cpus().reduce((ms, { times: t }) => ms + t.user + t.nice + t.sys + t.irq, 0)

/** One measured window of a running relay: the figures, from the server's own usage and the relay's counts. */
async function window (server, relay, o) {
  const profiled = await server.profile(o.label)
  const before = await server.stats()
  const client = process.cpuUsage()
  const busy = machineBusyMs()
  const done = relay.measure()
  await sleep(o.duration * 1000)
  const after = await server.stats()
  const clientMs = cpuMs({ cpu: client }, { cpu: process.cpuUsage() })
  const serverMs = cpuMs(before, after)
  const otherMs = machineBusyMs() - busy - clientMs - serverMs
  const { frames, seconds, latencies } = done()
  await profiled()
  return {
    framesPerSec: frames / seconds,
    ...percentiles(latencies),
    cpuPer1k: serverMs / frames * 1000,
    sysPer1k: (after.cpu.system - before.cpu.system) / frames,
    gcPer1k: (after.gcMs - before.gcMs) / frames * 1000,
    serverCpu: serverMs / seconds / 10,
    clientCpu: clientMs / seconds / 10,
    otherCpu: Math.max(0, otherMs / seconds / 10)
  }
}

/**
 * Runs the relay load over `members`: a warm-up, then a measured window. When
 * other processes took more than 2 × --quiet % CPU during it, the window is
 * measured again (--attempts in all) and the least disturbed one is kept.
 */
async function measureRelay (server, members, o) {
  const relay = new Relay(members, {
    window: o.window, burst: o.burst, rate: o.rate, maxSeconds: o.warmup + o.attempts * (o.duration + 1) + 10
  })
  relay.start()
  await sleep(o.warmup * 1000)
  let metrics = null
  for (let attempt = 0; attempt < o.attempts && !(metrics?.otherCpu <= 2 * o.quiet); attempt++) {
    const next = await window(server, relay, o)
    if (metrics === null || next.otherCpu < metrics.otherCpu) metrics = next
  }
  relay.stop()
  const problems = []
  await waitFor(() => relay.inflight === 0, 20_000, 'relay drain').catch((err) => problems.push(err.message))
  problems.push(...relay.verify())
  for (const m of members) m.relay = null
  return { metrics: { ...metrics, frames: relay.totalSent }, problems }
}

export async function relay (server, o) {
  const members = await joinMany(server.url, o.clients, inPools(o.pool), { concurrency: o.concurrency })
  try {
    await allAnnounced(members)
    const result = await measureRelay(server, members, { ...o, label: 'relay' })
    result.problems.push(...errorTally(members))
    return result
  } finally {
    terminate(members)
  }
}

/** Every member's `peers` lists exactly the members that joined its pool before it, and its rtc:peer the ones after. */
function checkJoins (members) {
  const problems = []
  if (new Set(members.map((m) => m.id)).size !== members.length) problems.push('duplicate client ids')
  for (const pool of byPool(members)) {
    const order = [...pool].sort((a, b) => a.peers.length - b.peers.length)
    order.forEach((m, i) => {
      if (m.peers.join() !== order.slice(0, i).map((x) => x.id).join()) problems.push(`${m.pool}: wrong peers in rtc:joined`)
      if (m.announced.join() !== order.slice(i + 1).map((x) => x.id).join()) problems.push(`${m.pool}: wrong rtc:peer`)
    })
  }
  return problems
}

/** One join storm: `o.joins` clients into pools of `o.pool` (names starting with `prefix`), checked; the members are returned open. */
async function joinRound (server, o, prefix, label) {
  const before = await server.stats()
  const profiled = label === null ? async () => {} : await server.profile(label)
  const t0 = performance.now()
  const members = await joinMany(server.url, o.joins, inPools(o.pool, prefix), { concurrency: o.concurrency })
  await profiled()
  const lastJoined = Math.max(...members.map((m) => m.joinedAt)) - t0
  await allAnnounced(members)
  const complete = performance.now() - t0
  const after = await server.stats()
  return { members, lastJoined, complete, cpuPerJoin: cpuMs(before, after) / o.joins, problems: [...checkJoins(members), ...errorTally(members)] }
}

/**
 * Two join storms on one server: the first on the fresh process, the second once the first's
 * members have left. The first pays for compiling every function on the join path, once per
 * process (the plugin has many more of them than the naive relay); the second is what every
 * later join costs, and holds the targets. Both are printed.
 */
export async function join (server, o) {
  let cold = null
  let warm = null
  try {
    cold = await joinRound(server, o, 'cold-', null)
    await Promise.all(cold.members.map((m) => m.close()))
    await sleep(200) // the server handles the last leaves (the same pause as after churn's warm-up round)
    warm = await joinRound(server, o, 'warm-', 'join')
    return {
      metrics: {
        joinsPerSec: o.joins / warm.lastJoined * 1000,
        lastJoined: warm.lastJoined,
        complete: warm.complete,
        cpuPerJoin: warm.cpuPerJoin,
        joinsPerSecCold: o.joins / cold.lastJoined * 1000,
        cpuPerJoinCold: cold.cpuPerJoin
      },
      problems: [...cold.problems.map((p) => `first storm: ${p}`), ...warm.problems]
    }
  } finally {
    terminate(cold?.members ?? [])
    terminate(warm?.members ?? [])
  }
}

/** One churn round: join, a negotiation per pair, then members leave one by one; checks every rtc:close. */
async function churnRound (server, o, round, problems) {
  const members = await joinMany(server.url, o.churnClients, inPools(o.pool, `r${round}-`), { concurrency: o.concurrency })
  try {
    await allAnnounced(members)
    const relay = new Relay(members, { window: o.window, burst: 2, perPair: 3, rate: o.rate, maxSeconds: 30 })
    relay.start()
    await waitFor(() => [...relay.senders.values()].every((s) => s.done) && relay.inflight === 0, 30_000, 'churn frames')
    relay.stop()
    problems.push(...relay.verify())
    let closes = 0
    await Promise.all(byPool(members).map(async (pool) => {
      for (const [k, leaver] of pool.entries()) {
        await leaver.close()
        const rest = pool.slice(k + 1)
        await waitFor(() => rest.every((m) => m.closes.has(leaver.id)), 20_000, 'rtc:close')
      }
      for (const [k, m] of pool.entries()) {
        const left = pool.slice(0, k)
        if (m.closes.size !== k || left.some((x) => m.closes.get(x.id) !== 1)) problems.push(`${m.pool}: rtc:close not exactly once`)
        closes += m.closes.size
      }
    }))
    problems.push(...errorTally(members))
    return closes
  } finally {
    terminate(members)
  }
}

export async function churn (server, o) {
  const problems = []
  await churnRound(server, o, 'warm', problems)
  await sleep(200)
  const start = await server.stats({ gc: true })
  const profiled = await server.profile('churn')
  const t0 = performance.now()
  let closes = 0
  for (let round = 0; round < o.rounds; round++) closes += await churnRound(server, o, round, problems)
  const seconds = (performance.now() - t0) / 1000
  await profiled()
  await sleep(500)
  const end = await server.stats({ gc: true })
  return {
    metrics: {
      cyclesPerSec: o.rounds * o.churnClients / seconds,
      cpuPerCycle: cpuMs(start, end) / o.rounds / o.churnClients,
      closes,
      heapStart: mb(start.mem.heapUsed),
      heapEnd: mb(end.mem.heapUsed),
      heapGrowth: mb(end.mem.heapUsed - start.mem.heapUsed),
      rssStart: mb(start.mem.rss),
      rssEnd: mb(end.mem.rss)
    },
    problems
  }
}

/** Memory per idle connection: `o.idle` connections that joined pools of `o.pool` (or, with `join: false`, never join). */
async function memory (server, o, join) {
  const before = await server.stats({ gc: true })
  let members = []
  try {
    members = await joinMany(server.url, o.idle, inPools(o.pool), { concurrency: o.concurrency, join })
    if (join) await allAnnounced(members)
    await sleep(1000)
    const after = await server.stats({ gc: true })
    const closed = members.filter((m) => m.ws.readyState !== m.ws.OPEN).length
    return {
      metrics: {
        connections: o.idle,
        rssPerConn: (after.mem.rss - before.mem.rss) / o.idle / 1024,
        heapPerConn: (after.mem.heapUsed - before.mem.heapUsed) / o.idle / 1024,
        externalPerConn: (after.mem.external + after.mem.arrayBuffers - before.mem.external - before.mem.arrayBuffers) / o.idle / 1024
      },
      problems: [...(closed > 0 ? [`${closed} connections closed before the measure`] : []), ...errorTally(members)]
    }
  } finally {
    terminate(members)
  }
}

export const idle = (server, o) => memory(server, o, true)
export const unjoined = (server, o) => memory(server, o, false)

/**
 * The relay over the same active members (10 pools of routingPool, each
 * client paced at routingRate frames/s at most): alone, then with routingPools − 10 more pools of one idle
 * member each, then alone again. Only the number of pools and connections
 * present changes, never the relayed pairs; "many/few" compares the middle
 * run with the mean of the other two, which cancels drift. The middle run
 * lasts routingWindow seconds (default 30, the plugin's heartbeat interval):
 * any such window holds exactly one heartbeat of all those connections, so
 * the heartbeat is charged at its real, amortized share, never 0 or 3×.
 */
export async function routing (server, o) {
  const ro = { ...o, rate: o.routingRate, label: 'routing-few' }
  const active = await joinMany(server.url, 10 * o.routingPool, inPools(o.routingPool, 'a'), { concurrency: o.concurrency })
  let idlers = []
  try {
    await allAnnounced(active)
    const few1 = await measureRelay(server, active, ro)
    idlers = await joinMany(server.url, o.routingPools - 10, (i) => `i${i}`, { concurrency: o.concurrency, first: active.length })
    const many = await measureRelay(server, active, { ...ro, duration: o.routingWindow, label: 'routing-many' })
    const problems = [...errorTally(idlers)]
    terminate(idlers)
    await sleep(1000)
    const few2 = await measureRelay(server, active, ro)
    const few = (key) => (few1.metrics[key] + few2.metrics[key]) / 2
    const m = many.metrics
    return {
      metrics: {
        cpuFew: few('cpuPer1k'),
        cpuMany: m.cpuPer1k,
        cpuRatio: m.cpuPer1k / few('cpuPer1k'),
        gcFew: few('gcPer1k'),
        gcMany: m.gcPer1k,
        fpsFew: few('framesPerSec'),
        fpsMany: m.framesPerSec,
        fpsRatio: m.framesPerSec / few('framesPerSec'),
        p99Few: few('p99'),
        p99Many: m.p99,
        otherCpu: Math.max(few1.metrics.otherCpu, m.otherCpu, few2.metrics.otherCpu)
      },
      problems: [...few1.problems, ...many.problems, ...few2.problems, ...problems, ...errorTally(active)]
    }
  } finally {
    terminate(active)
    terminate(idlers)
  }
}
