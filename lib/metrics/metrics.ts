import diagnostics from 'node:diagnostics_channel'
import type { FastifyBaseLogger } from 'fastify'
import type * as PromClient from 'prom-client'
import {
  CHANNELS, type AdapterFact, type AdapterOp, type ConnectionFact, type ConnectionRefusal, type ErrorFact, type FrameFact,
  type FrameKind, type HeartbeatFact, type HookFact, type IceFact, type JoinFact, type LeaveFact, type RelayFact,
  type ResumeFact, type ResumeResult
} from '../core/diagnostics'
import { errors } from '../errors'
import type { NormalizedMetricsOptions } from '../options'
import { REASONS, type Reason } from '../protocol'
import type { LeaveReason } from '../types'
import { Negotiations, SYSTEM_METRICS_CLOCK, type MetricsClock, type NegotiationOutcome } from './negotiations'

export type PromClientModule = typeof PromClient

/** What the metrics read from the server they watch: its id and its counts, at scrape time. */
export interface MetricsSource {
  readonly node: string
  stats (): { connections: number, pools: number, members: number, suspended: number, draining: boolean }
}

/** A running set of metrics: `close()` unsubscribes and takes the metrics off the registry. */
export interface Metrics {
  close (): void
}

// Label values are from these fixed sets (never a pool name or a peer id). Each series exists
// from the start, at 0, so that rate() and alerts work before the first event.
const keys = <K extends string>(set: Record<K, true>): K[] => Object.keys(set) as K[]
const CONNECTION_RESULTS = ['accepted', ...keys<ConnectionRefusal>({
  'origin-denied': true, 'auth-denied': true, 'bad-request': true, 'not-found': true, 'upgrade-required': true, limit: true, 'shutting-down': true, other: true
})]
/** The reasons that can answer an `rtc:join` (a future one is counted too, when it first happens). */
const JOIN_RESULTS: Array<'ok' | Reason> = ['ok', 'invalid-frame', 'missing-pool', 'join-denied', 'no-such-pool', 'pool-full', 'already-joined']
const LEAVE_REASONS = keys<LeaveReason>({
  closed: true, heartbeat: true, kicked: true, 'slow-reader': true, 'rate-limited': true, 'pool-closed': true, shutdown: true, error: true, 'resume-expired': true, 'resume-failed': true
})
const RESUME_RESULTS = keys<ResumeResult>({ resumed: true, 'unknown-token': true, expired: true, 'frames-lost': true, denied: true, throttled: true })
const FRAME_KINDS = keys<FrameKind>({ sdp: true, candidate: true, join: true, event: true, other: true })
const ADAPTER_OPS = keys<AdapterOp>({
  attach: true, createPool: true, closePool: true, join: true, leave: true, describe: true, kick: true, locate: true, pool: true, pools: true, close: true, connection: true, forward: true, apply: true
})
const HOOKS = keys<HookFact['hook']>({ 'join-hook': true, allows: true })
const OUTCOMES = keys<NegotiationOutcome>({ answered: true, timeout: true, abandoned: true })

/** Loads prom-client, an optional peer dependency, only when metrics are on. */
export async function loadPromClient (): Promise<PromClientModule> {
  let mod: PromClientModule & { default?: PromClientModule }
  try {
    mod = await import('prom-client')
  } catch (err) {
    throw new errors.FST_RTC_METRICS_UNAVAILABLE((err as Error).message)
  }
  return mod.default ?? mod
}

/** Counts by one label's value, read by a counter at scrape time (a Map update per event, nothing more). */
class Tally {
  readonly counts = new Map<string, number>()

  constructor (values: readonly string[]) {
    for (const v of values) this.counts.set(v, 0)
  }

  add (value: string, n = 1): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + n)
  }
}

/**
 * Loads prom-client and starts the metrics of one server: its gauges read `source.stats()` at
 * scrape time; its counters and histograms come from the facts the core publishes
 * (lib/core/diagnostics.ts), of this server only (`node`).
 */
export async function startMetrics (options: NormalizedMetricsOptions, source: MetricsSource, log: FastifyBaseLogger, clock: MetricsClock = SYSTEM_METRICS_CLOCK): Promise<Metrics> {
  return createMetrics(await loadPromClient(), options, source, log, clock)
}

export function createMetrics (client: PromClientModule, options: NormalizedMetricsOptions, source: MetricsSource, log: FastifyBaseLogger, clock: MetricsClock = SYSTEM_METRICS_CLOCK): Metrics {
  const { registry, prefix, buckets } = options
  const registers = [registry as unknown as PromClient.Registry]
  const names: string[] = []
  const name = (suffix: string): string => {
    const full = prefix + suffix
    // Checked before any is registered: a conflict leaves the registry as it was.
    if (registry.getSingleMetric(full) !== undefined) throw new errors.FST_RTC_METRICS_CONFLICT(full)
    names.push(full)
    return full
  }
  const metricNames = {
    connections: name('connections'),
    pools: name('pools'),
    members: name('members'),
    draining: name('draining'),
    suspended: name('suspended_members'),
    connectionsTotal: name('connections_total'),
    resumesTotal: name('resumes_total'),
    joinsTotal: name('joins_total'),
    leavesTotal: name('leaves_total'),
    framesTotal: name('frames_total'),
    frameBytesTotal: name('frame_bytes_total'),
    errorsTotal: name('errors_total'),
    iceTotal: name('ice_credentials_issued_total'),
    adapterErrorsTotal: name('adapter_errors_total'),
    evictionsTotal: name('negotiation_evictions_total'),
    joinSeconds: name('join_seconds'),
    hookSeconds: name('hook_seconds'),
    negotiationSeconds: name('negotiation_seconds'),
    heartbeatSeconds: name('heartbeat_rtt_seconds')
  }

  // Gauges: read at scrape time, per process.
  const gauge = (metric: string, help: string, read: () => number): void => {
    new client.Gauge({ name: metric, help, registers, collect () { this.set(read()) } }) // eslint-disable-line no-new
  }
  gauge(metricNames.connections, 'Open WebSocket connections on this process', () => source.stats().connections)
  gauge(metricNames.pools, 'Pools this process has a view of (at least one member here, or created here)', () => source.stats().pools)
  gauge(metricNames.members, 'Pool members connected to this process', () => source.stats().members)
  gauge(metricNames.draining, '1 while this process drains its connections (fastify.close())', () => source.stats().draining ? 1 : 0)
  gauge(metricNames.suspended, 'Members of this process whose socket ended and who wait for their client to resume', () => source.stats().suspended)

  // Counters: tallied per event, handed to prom-client at scrape time.
  const counter = (metric: string, help: string, label: string | null, tally: Tally): void => {
    new client.Counter({ // eslint-disable-line no-new
      name: metric,
      help,
      labelNames: label === null ? [] : [label],
      registers,
      collect () {
        this.reset()
        for (const [value, n] of tally.counts) {
          if (label === null) this.inc(n)
          else this.inc({ [label]: value }, n)
        }
      }
    })
  }
  const connections = new Tally(CONNECTION_RESULTS)
  const joins = new Tally(JOIN_RESULTS)
  const leaves = new Tally(LEAVE_REASONS)
  const refusals = new Tally(REASONS)
  const adapterErrors = new Tally(ADAPTER_OPS)
  const ice = new Tally([''])
  const evictions = new Tally([''])
  const resumes = new Tally(RESUME_RESULTS)
  counter(metricNames.connectionsTotal, 'WebSocket upgrade requests, by result (accepted, or why not)', 'result', connections)
  counter(metricNames.joinsTotal, 'rtc:join frames answered, by result (ok, or the rtc:error reason)', 'result', joins)
  counter(metricNames.leavesTotal, 'Members of this process that left their pool, by reason', 'reason', leaves)
  counter(metricNames.errorsTotal, 'rtc:error frames sent, by reason', 'reason', refusals)
  counter(metricNames.iceTotal, 'ICE server sets (TURN credentials) issued to members, for rtc:joined and rtc:ice', null, ice)
  counter(metricNames.adapterErrorsTotal, 'Failed adapter calls, by operation', 'op', adapterErrors)
  counter(metricNames.resumesTotal, 'rtc:resume frames answered, by result (resumed, or why not)', 'result', resumes)
  counter(metricNames.evictionsTotal, 'Open offers forgotten unsettled because the table of open offers was full', null, evictions)

  // Per frame: two property increments on fixed-shape objects.
  const zeros = (): Record<FrameKind, number> => ({ sdp: 0, candidate: 0, join: 0, event: 0, other: 0 })
  const frames = { in: zeros(), out: zeros() }
  const frameBytes = { in: 0, out: 0 }
  new client.Counter({ // eslint-disable-line no-new
    name: metricNames.framesTotal,
    help: 'WebSocket frames received (in) and written (out), by kind',
    labelNames: ['direction', 'type'],
    registers,
    collect () {
      this.reset()
      for (const direction of ['in', 'out'] as const) {
        for (const type of FRAME_KINDS) this.inc({ direction, type }, frames[direction][type])
      }
    }
  })
  new client.Counter({ // eslint-disable-line no-new
    name: metricNames.frameBytesTotal,
    help: 'Bytes of WebSocket frames received (in) and written (out)',
    labelNames: ['direction'],
    registers,
    collect () {
      this.reset()
      this.inc({ direction: 'in' }, frameBytes.in)
      this.inc({ direction: 'out' }, frameBytes.out)
    }
  })

  // Histograms: observed per event.
  const joinSeconds = new client.Histogram({ name: metricNames.joinSeconds, help: 'From an rtc:join frame to its rtc:joined', buckets: [...buckets.join], registers })
  const hookSeconds = new client.Histogram({ name: metricNames.hookSeconds, help: 'Time the join hook and pools\' allows rules take to answer', labelNames: ['hook'], buckets: [...buckets.hook], registers })
  const negotiationSeconds = new client.Histogram({
    name: metricNames.negotiationSeconds,
    help: 'From a member\'s offer to a peer (both on this process) to that peer\'s answer, or to its timeout or abandonment',
    labelNames: ['outcome'],
    buckets: [...buckets.negotiation],
    registers
  })
  const heartbeatSeconds = new client.Histogram({ name: metricNames.heartbeatSeconds, help: 'Heartbeat round trip: from a ping to its pong', buckets: [...buckets.heartbeat], registers })
  for (const hook of HOOKS) hookSeconds.zero({ hook })
  for (const outcome of OUTCOMES) negotiationSeconds.zero({ outcome })

  const negotiations = new Negotiations({
    timeout: options.negotiationTimeout,
    max: options.maxOpenOffers,
    clock,
    settled: (outcome, seconds) => negotiationSeconds.observe({ outcome }, seconds),
    evicted: () => evictions.add('')
  })

  // Subscribers: facts of this server only.
  const { node } = source
  const subscriptions: Array<[string, (message: unknown) => void]> = []
  const on = <T extends { node: string }>(channel: string, handle: (fact: T) => void): void => {
    const listener = (message: unknown): void => {
      if ((message as T).node !== node) return
      try {
        handle(message as T)
      } catch (err) {
        // A subscriber that throws would surface as an uncaught exception: never let one out.
        log.error({ err, channel }, 'rtc: a metric could not be updated')
      }
    }
    diagnostics.subscribe(channel, listener)
    subscriptions.push([channel, listener])
  }
  on<ConnectionFact>(CHANNELS.connection, (fact) => {
    if (fact.event === 'open') connections.add('accepted')
    else if (fact.event === 'refused') connections.add(fact.result)
  })
  on<JoinFact>(CHANNELS.join, (fact) => {
    joins.add(fact.result)
    if (fact.seconds !== null) joinSeconds.observe(fact.seconds)
  })
  on<LeaveFact>(CHANNELS.leave, (fact) => {
    leaves.add(fact.reason)
    negotiations.left(fact.peer)
  })
  on<RelayFact>(CHANNELS.relay, (fact) => {
    // Only pairs on this process: the answer to an offer forwarded elsewhere is relayed there.
    if (!fact.local) return
    if (fact.sdpType === 'offer') negotiations.offer(fact.from, fact.to)
    else if (fact.sdpType === 'answer') negotiations.answer(fact.from, fact.to)
  })
  on<ErrorFact>(CHANNELS.error, (fact) => refusals.add(fact.reason))
  on<FrameFact>(CHANNELS.frame, (fact) => {
    frames[fact.direction][fact.kind]++
    frameBytes[fact.direction] += fact.bytes
  })
  on<HookFact>(CHANNELS.hook, (fact) => hookSeconds.observe({ hook: fact.hook }, fact.seconds))
  on<HeartbeatFact>(CHANNELS.heartbeat, (fact) => heartbeatSeconds.observe(fact.seconds))
  on<AdapterFact>(CHANNELS.adapter, (fact) => adapterErrors.add(fact.op))
  on<IceFact>(CHANNELS.ice, () => ice.add(''))
  on<ResumeFact>(CHANNELS.resume, (fact) => { if (fact.result !== null) resumes.add(fact.result) })
  log.debug({ prefix, metrics: names.length }, 'fastify-rtc-signal: metrics registered')

  let closed = false
  return {
    close () {
      if (closed) return
      closed = true
      for (const [channel, listener] of subscriptions) diagnostics.unsubscribe(channel, listener)
      negotiations.close()
      for (const metric of names) registry.removeSingleMetric(metric)
    }
  }
}
