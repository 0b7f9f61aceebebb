#!/usr/bin/env node
// npm run bench [-- SCENARIO... --flag value ... --quick]: see bench/README.md.
import { execSync, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { medians, pinning, pinningDescription, sleep, startServer, table } from './lib.mjs'
import { churn, idle, join, machineBusyMs, relay, routing, unjoined } from './scenarios.mjs'

// relay1: the relay with one frame in flight per client (no batching to be had), whatever --window says.
const scenarios = { relay, relay1: (server, o) => relay(server, { ...o, window: 1 }), join, churn, idle, unjoined, routing }
// The servers each scenario runs (--servers picks among them): the ceiling only where its figure means something.
// `fastify`: the naive relay behind a @fastify/websocket route, to tell Fastify's cost per connection from the plugin's.
const SCENARIO_SERVERS = {
  relay: ['baseline', 'ceiling', 'plugin'],
  relay1: ['baseline', 'ceiling', 'plugin'],
  join: ['baseline', 'fastify', 'plugin'],
  churn: ['baseline', 'fastify', 'plugin'],
  idle: ['baseline', 'ceiling', 'fastify', 'plugin'],
  unjoined: ['baseline', 'plugin']
}
const LABEL = { baseline: 'naive', ceiling: 'ceiling', fastify: 'naive on Fastify', plugin: 'plugin' }
const here = path.dirname(fileURLToPath(import.meta.url))
const PLUGIN_RATE_LIMIT = 500 // the plugin's default per-connection limit (frames/s); the bench stays under it

const DEFAULTS = {
  clients: 200, // relay: clients
  pool: 4, // relay, join, churn, idle: members per pool
  duration: 8, // relay, routing: measured seconds
  warmup: 1.5, // relay, routing: seconds before measuring
  window: 8, // relay: frames in flight per client
  burst: 4, // relay: candidates after each sdp
  rate: 400, // relay: frames/s per client at most (0: unpaced)
  concurrency: 200, // connects in flight
  joins: 2000, // join: clients
  rounds: 20, // churn: rounds
  churnClients: 200, // churn: clients per round
  idle: 10000, // idle: connections
  routingPool: 16, // routing: members of each of the 10 active pools
  routingPools: 10000, // routing: pools in the "many" run
  routingRate: 400, // routing: frames/s per active client at most (as --rate: the server saturates)
  routingWindow: 30, // routing: measured seconds of the "many" run (the plugin's heartbeat interval)
  repeat: 3, // runs per server, alternating baseline/plugin; the table shows medians
  quietWait: 30, // seconds to wait at most, before each run, for other processes to use < 25% CPU
  quiet: 25, // that threshold, % of one core
  attempts: 3, // relay, routing: windows measured at most while other processes use > 2 × quiet % CPU
  metricsRepeat: 5 // metrics: runs per configuration, alternating (the target is tight: 5%)
}
const QUICK = { clients: 60, duration: 1.5, warmup: 0.5, joins: 400, rounds: 3, churnClients: 60, idle: 1000, routingPools: 1000, routingWindow: 1.5, repeat: 1, quietWait: 0, attempts: 1, metricsRepeat: 1 }

const flags = Object.fromEntries(Object.keys(DEFAULTS).map((k) => [k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), { type: 'string' }]))
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { ...flags, quick: { type: 'boolean' }, servers: { type: 'string' }, 'cpu-prof': { type: 'boolean' }, help: { type: 'boolean' } }
})
if (values.help) {
  console.log(`usage: node bench/run.mjs [${Object.keys(scenarios).join('|')}|metrics|cluster ...] [--quick] [--servers baseline,ceiling,fastify,plugin] [--cpu-prof]\n  ` +
    Object.entries(DEFAULTS).map(([k, v]) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} ${v}`).join('  '))
  process.exit(0)
}
const o = { ...DEFAULTS, ...(values.quick ? QUICK : {}) }
for (const k of Object.keys(DEFAULTS)) {
  const v = values[k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())]
  if (v !== undefined) o[k] = Number(v)
}
// `cluster` (cross-process relay through Redis against one process) is its own script with its own table.
const EXTERNAL = { cluster: 'cluster.mjs' }
// `metrics`: the relay scenario on the plugin without and with metrics, in the same run (its own table).
const MODES = ['metrics']
const known = [...Object.keys(scenarios), ...MODES, ...Object.keys(EXTERNAL)]
const chosen = positionals.length ? positionals : known
for (const name of chosen) if (!known.includes(name)) throw new Error(`unknown scenario ${name}; have ${known.join(', ')}`)
const servers = (values.servers ?? 'baseline,ceiling,fastify,plugin').split(',')
const serversOf = (name) => (SCENARIO_SERVERS[name] ?? ['baseline', 'plugin']).filter((kind) => servers.includes(kind))

const machine = {
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  node: process.version,
  memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
  pinning: pinningDescription
}
pinning?.load()
console.log(`machine: ${machine.os}, ${machine.cpus}, ${machine.memory}, node ${machine.node}`)
console.log(`pinning: ${machine.pinning}`)

const notes = []
const note = (text) => {
  notes.push(text)
  console.log(`note: ${text}`)
}
const fdLimit = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim()) || Infinity
for (const key of ['idle', 'routingPools']) {
  if (o[key] + 10 * o.routingPool + 500 > fdLimit) {
    o[key] = fdLimit - 10 * o.routingPool - 500
    note(`${key} lowered to ${o[key]} to fit the open-file limit (ulimit -n = ${fdLimit})`)
  }
}
if (o.rate > PLUGIN_RATE_LIMIT || o.rate === 0) note(`client pacing ${o.rate || 'off'}: above the plugin's default rate limit (${PLUGIN_RATE_LIMIT}/s), rate-limited frames will show as errors`)

// What each scenario shows: [key, label, decimals, targets]. A target { vs, op, limit } holds the
// plugin's figure over `vs`'s (the naive relay or the ceiling) in the same run to `limit`; one with
// `value` applies to the plugin's own figure. The targets of issue 15, and those of issue 4 that
// they do not tighten (relay throughput, joins/s, churn heap growth, routing).
const naive = (op, limit) => ({ vs: 'baseline', op, limit })
const ceiling = (op, limit) => ({ vs: 'ceiling', op, limit })
const relayRows = (cpuTargets) => [
  ['framesPerSec', 'delivered frames/s', 0, [naive('>=', 0.9)]],
  ['p50', 'latency p50 (ms)', 2],
  ['p99', 'latency p99 (ms)', 2, [naive('<=', 1)]],
  ['max', 'latency max (ms)', 2],
  ['cpuPer1k', 'server CPU ms / 1k frames', 1, cpuTargets],
  ['sysPer1k', '  of which kernel (sys)', 1],
  ['gcPer1k', '  GC ms / 1k frames', 1],
  ['serverCpu', 'server CPU %', 0],
  ['clientCpu', 'load generator CPU %', 0],
  ['otherCpu', 'other processes CPU %', 0],
  ['frames', 'frames sent (all phases)', 0]
]
const memoryRows = (what) => [
  ['connections', `idle ${what} connections`, 0],
  ['rssPerConn', 'RSS per connection (KiB)', 2, [naive('<=', 1.05)]],
  ['heapPerConn', 'JS heap per connection (KiB)', 2],
  ['externalPerConn', 'external+buffers per conn (KiB)', 2]
]
const ROWS = {
  relay: relayRows([naive('<=', 0.85), ceiling('<=', 1.15)]),
  relay1: relayRows([naive('<=', 0.85)]),
  join: [
    ['joinsPerSec', 'joins/s', 0, [naive('>=', 0.8)]],
    ['lastJoined', 'last rtc:joined (ms)', 0],
    ['complete', 'last rtc:peer (ms)', 0],
    ['cpuPerJoin', 'server CPU ms / join', 3, [naive('<=', 1)]],
    ['joinsPerSecCold', 'fresh process: joins/s', 0],
    ['cpuPerJoinCold', 'fresh process: server CPU ms / join', 3]
  ],
  churn: [
    ['cyclesPerSec', 'join+leave cycles/s', 0, [naive('>=', 1)]],
    ['cpuPerCycle', 'server CPU ms / cycle', 3],
    ['closes', 'rtc:close delivered', 0],
    ['heapStart', 'heap start (MiB)', 2],
    ['heapEnd', 'heap end (MiB)', 2],
    ['heapGrowth', 'heap growth (MiB)', 2, [{ value: '<=', limit: 1 }]],
    ['rssStart', 'RSS start (MiB)', 1],
    ['rssEnd', 'RSS end (MiB)', 1]
  ],
  idle: memoryRows('joined'),
  unjoined: memoryRows('unjoined'),
  routing: [
    ['cpuFew', 'CPU ms/1k frames, 10 pools', 1],
    ['cpuMany', `CPU ms/1k frames, ${o.routingPools} pools`, 1],
    ['cpuRatio', 'CPU many/few', 3, [{ value: 'within', limit: 0.1 }]],
    ['gcFew', 'GC ms/1k frames, 10 pools', 1],
    ['gcMany', `GC ms/1k frames, ${o.routingPools} pools`, 1],
    ['fpsFew', 'frames/s, 10 pools', 0],
    ['fpsMany', `frames/s, ${o.routingPools} pools`, 0],
    ['fpsRatio', 'frames/s many/few', 3],
    ['p99Few', 'p99 ms, 10 pools', 2],
    ['p99Many', `p99 ms, ${o.routingPools} pools`, 2],
    ['otherCpu', 'other processes CPU % (max)', 0]
  ]
}

const DESCRIBE = {
  relay: `${o.clients} clients in pools of ${o.pool}, window ${o.window}, bursts of 1 sdp + ${o.burst} candidates, ≤ ${o.rate} frames/s per client, ${o.warmup} s warm-up + ${o.duration} s`,
  relay1: `the relay with 1 frame in flight per client: ${o.clients} clients in pools of ${o.pool}, bursts of 1 sdp + ${o.burst} candidates, ≤ ${o.rate} frames/s per client, ${o.warmup} s warm-up + ${o.duration} s`,
  join: `${o.joins} clients join pools of ${o.pool}, ${o.concurrency} connecting at once, on a server that had as many join and leave (and on the fresh process: rows "fresh process")`,
  churn: `${o.rounds} rounds (+1 warm-up) of ${o.churnClients} clients in pools of ${o.pool}: join, 1 sdp + 2 candidates per pair, leave one by one`,
  idle: `${o.idle} idle joined connections in pools of ${o.pool}`,
  unjoined: `${o.idle} idle connections that never join`,
  routing: `relay at ≤ ${o.routingRate} frames/s per client over 10 pools of ${o.routingPool} (${o.duration} s); again with ${o.routingPools - 10} more single-member pools (${o.routingPools} pools, ${o.routingPools - 10 + 10 * o.routingPool} members; ${o.routingWindow} s); again without`
}

/** Waits (at most --quiet-wait s) until other processes use less than --quiet % CPU over a second; returns that %. */
async function quietMoment () {
  const deadline = Date.now() + o.quietWait * 1000
  for (;;) {
    const busy = machineBusyMs()
    const self = process.cpuUsage()
    await sleep(1000)
    const mine = process.cpuUsage(self)
    const pct = (machineBusyMs() - busy - (mine.user + mine.system) / 1000) / 10
    if (pct < o.quiet || Date.now() >= deadline) {
      if (pct >= o.quiet) note(`a run started while other processes used ${pct.toFixed(0)}% CPU`)
      return pct
    }
  }
}

/**
 * Runs `measure` on a fresh server per run (`start(name)`), `repeat` times for each of `names`,
 * alternating which goes first; returns each name's runs ({ metrics, problems }).
 */
async function alternating (names, repeat, start, measure) {
  const runs = Object.fromEntries(names.map((name) => [name, []]))
  for (let r = 0; r < repeat; r++) {
    for (const name of r % 2 ? [...names].reverse() : names) {
      let server
      try {
        await quietMoment()
        server = await start(name)
        runs[name].push(await measure(server, name))
      } catch (err) {
        runs[name].push({ metrics: {}, problems: [`failed: ${err.message}`] })
      } finally {
        await server?.stop()
      }
    }
  }
  return runs
}

const fmt = (v, d) => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—')

/** A target's text and verdict (null: no figure to judge) for the plugin's figure `plug`, `other` being its `vs` server's. */
function judge (target, other, plug) {
  const { limit } = target
  if (!Number.isFinite(plug)) return [null, null]
  if (target.vs) {
    const r = plug / other
    const goal = `${target.op === '>=' ? '≥' : '≤'} ${limit}× ${LABEL[target.vs]}`
    if (!Number.isFinite(r)) return [goal, null]
    return [goal, target.op === '>=' ? r >= limit : r <= limit, r]
  }
  if (target.value === 'within') return [`1 ± ${limit}`, Math.abs(plug - 1) <= limit]
  return [`≤ ${limit}`, plug <= limit]
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const resultsDir = path.join(here, 'results')
mkdirSync(resultsDir, { recursive: true })
const profDir = values['cpu-prof'] ? path.join(resultsDir, `prof-${stamp}`) : null
if (profDir) note('--cpu-prof: the server is profiled while measuring, which slows it: use these figures for diagnosis only')
const report = { date: new Date().toISOString(), machine, options: o, servers, notes, scenarios: {}, targets: [] }

for (const name of chosen.filter((n) => scenarios[n] !== undefined)) {
  console.log(`\n## ${name}: ${DESCRIBE[name]}${o.repeat > 1 ? ` (median of ${o.repeat} runs each)` : ''}`)
  const runs = await alternating(serversOf(name), o.repeat, (kind) => startServer(kind, { profileDir: profDir }), (server) => scenarios[name](server, o))
  const results = Object.fromEntries(Object.entries(runs).map(([kind, list]) => [kind, {
    metrics: medians(list.map((run) => run.metrics)),
    problems: list.flatMap((run, r) => run.problems.map((p) => (o.repeat > 1 ? `run ${r + 1}: ${p}` : p))),
    runs: list.map((run) => run.metrics)
  }]))
  const kinds = Object.keys(results)
  const figures = (kind) => results[kind]?.metrics ?? {}
  const plug = figures('plugin')
  const against = kinds.filter((kind) => kind !== 'plugin')
  const rows = [['metric', ...kinds.map((k) => LABEL[k]), ...against.map((k) => `plugin/${LABEL[k]}`), 'target', '']]
  for (const [key, label, d, targets = []] of ROWS[name]) {
    const goals = []
    const verdicts = []
    for (const target of targets) {
      const other = target.vs ? figures(target.vs)[key] : undefined
      if (target.vs && !kinds.includes(target.vs)) continue
      const [goal, pass, ratio] = judge(target, other, plug[key])
      if (goal === null) continue
      goals.push(goal)
      verdicts.push(pass === null ? '—' : pass ? 'PASS' : 'MISS')
      report.targets.push({ scenario: name, metric: label, vs: target.vs ?? null, other: other ?? null, plugin: plug[key], ratio: ratio ?? null, target: goal, pass })
    }
    rows.push([label, ...kinds.map((k) => fmt(figures(k)[key], d)), ...against.map((k) => fmt(plug[key] / figures(k)[key], 2)), goals.join('; '), verdicts.join('; ')])
  }
  console.log(table(rows))
  for (const [kind, r] of Object.entries(results)) {
    console.log(`checks ${kind}: ${r.problems.length ? r.problems.join('; ') : 'OK'}`)
  }
  report.scenarios[name] = { description: DESCRIBE[name], results }
}

if (chosen.includes('metrics')) await metricsOverhead()

if (report.targets.length) {
  console.log('\n## targets (the plugin against the naive relay and the ceiling, same run)')
  console.log(table([['scenario', 'metric', 'against', 'its figure', 'plugin', 'ratio', 'target', ''],
    ...report.targets.map((t) => [t.scenario, t.metric, t.vs === null ? '—' : LABEL[t.vs] ?? t.vs, fmt(t.other, 2), fmt(t.plugin, 2),
      t.ratio === null ? '—' : fmt(t.ratio, 2), t.target, t.pass === null ? '—' : t.pass ? 'PASS' : 'MISS'])]))
  const missed = report.targets.filter((t) => t.pass === false).length
  console.log(`${report.targets.length - missed} of ${report.targets.length} targets met`)
}

/**
 * The cost of `metrics`: the relay scenario on the same plugin build with metrics off and on (a
 * prom-client registry scraped every second), alternating which goes first; medians of
 * --metrics-repeat runs each. Target: server CPU per 1,000 relayed frames at most 1.05× without.
 */
async function metricsOverhead () {
  const configs = { plugin: {}, 'plugin+metrics': { metrics: true } }
  const names = Object.keys(configs)
  console.log(`\n## metrics: ${DESCRIBE.relay}; the plugin without and with metrics (registry scraped every second)` +
    `${o.metricsRepeat > 1 ? ` (median of ${o.metricsRepeat} runs each)` : ''}`)
  const runs = await alternating(names, o.metricsRepeat, (name) => startServer('plugin', { options: configs[name], profileDir: profDir }),
    (server, name) => relay(server, { ...o, label: `relay-${name}` }))
  const [off, on] = names.map((name) => medians(runs[name].map((run) => run.metrics)))
  const rows = [['metric', 'metrics off', 'metrics on', 'on/off', 'target', '']]
  for (const [key, label, d, limit] of [
    ['cpuPer1k', 'server CPU ms / 1k frames', 1, 1.05],
    ['gcPer1k', '  GC ms / 1k frames', 1],
    ['framesPerSec', 'delivered frames/s', 0],
    ['p99', 'latency p99 (ms)', 2],
    ['otherCpu', 'other processes CPU %', 0]
  ]) {
    const ratio = on[key] / off[key]
    const pass = limit === undefined || !Number.isFinite(ratio) ? null : ratio <= limit
    rows.push([label, fmt(off[key], d), fmt(on[key], d), fmt(ratio, 3), limit === undefined ? '' : `≤ ${limit}×`, pass === null ? '' : pass ? 'PASS' : 'MISS'])
    if (pass !== null) report.targets.push({ scenario: 'metrics', metric: label, vs: 'plugin, metrics off', other: off[key], plugin: on[key], ratio, target: `≤ ${limit}× off`, pass })
  }
  console.log(table(rows))
  console.log(`cpu per 1k frames, each run: off ${runs.plugin.map((run) => fmt(run.metrics.cpuPer1k, 1)).join(', ')}; on ${runs['plugin+metrics'].map((run) => fmt(run.metrics.cpuPer1k, 1)).join(', ')}`)
  for (const name of names) {
    const problems = runs[name].flatMap((run, r) => run.problems.map((p) => (o.metricsRepeat > 1 ? `run ${r + 1}: ${p}` : p)))
    console.log(`checks ${name}: ${problems.length ? problems.join('; ') : 'OK'}`)
  }
  report.scenarios.metrics = { description: `${DESCRIBE.relay}; metrics off vs on`, results: Object.fromEntries(names.map((name) => [name, { runs: runs[name].map((run) => run.metrics) }])) }
}

const file = path.join(resultsDir, `${stamp}.json`)
writeFileSync(file, JSON.stringify(report, null, 2))
console.log(`\nresults: ${path.relative(process.cwd(), file)}${profDir ? `\nprofiles: ${path.relative(process.cwd(), profDir)} (node bench/profile.mjs FILE)` : ''}`)

if (chosen.includes('cluster')) {
  let redis = true
  try { execSync('command -v redis-server', { stdio: 'ignore' }) } catch { redis = false }
  if (!redis) {
    console.log('\n## cluster: skipped, redis-server is not installed (apt-get install -y redis-server)')
  } else {
    console.log('\n## cluster: cross-process relay through Redis vs one process (bench/cluster.mjs)')
    const quick = values.quick ? ['--pools', '12', '--duration', '1', '--warmup', '0.5', '--repeat', '1'] : []
    const run = spawnSync(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), EXTERNAL.cluster), ...quick], { stdio: 'inherit' })
    if (run.status !== 0) console.log(`cluster: bench/cluster.mjs exited with ${run.status}`)
  }
}
