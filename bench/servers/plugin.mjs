import Fastify from 'fastify'
import pino from 'pino'
import { options, serve } from './harness.mjs'

const mod = await import('../../dist/index.js')
const rtcSignal = typeof mod.default === 'function' ? mod.default : mod.default.default
// As deployed: validation, the rate limit, the heartbeat, joinTimeout, slow-reader and connection
// limits all on. Every bench client connects from 127.0.0.1, so the connection limits are set above
// what the bench opens (the routing scenario: ~10,200) instead of their defaults: checked, never hit.
const opts = { privatePools: false, maxConnections: 30_000, maxConnectionsPerIp: 30_000, ...options() }
// `metrics: true` (the bench's metrics mode): a prom-client registry, scraped every second as a
// busy Prometheus would, so the scrape-time work (collect) is in the figures too.
let scraper = null
if (opts.metrics === true) {
  const { Registry } = await import('prom-client')
  const registry = new Registry()
  opts.metrics = { registry }
  scraper = setInterval(() => { registry.metrics().catch(() => {}) }, 1000)
}

// The log level a real deployment uses (info: a line per join and leave), written synchronously
// to /dev/null: the formatting and the write are paid, nothing is kept.
const app = Fastify({ logger: { level: opts.logLevel ?? 'info', stream: pino.destination({ dest: '/dev/null', sync: true }) } })
delete opts.logLevel
// `redis: { url | cluster, prefix }` (bench/resume.mjs): the Redis adapter, on one redis-server or a Redis Cluster.
if (opts.redis !== undefined) opts.adapter = mod.redisAdapter(opts.redis)
delete opts.redis
await app.register(rtcSignal, opts)

// The members suspended on this process (id -> when, ms since the epoch on this machine's clock), for
// bench/resume.mjs to wait for a suspension and time it. A member leaves the map when it resumes here
// or leaves; one that resumed on another process stays (this process gets no event for it).
const suspended = new Map()
const waiters = new Set()
app.rtcPools.on('suspend', ({ id }) => {
  suspended.set(id, performance.timeOrigin + performance.now())
  for (const w of waiters) w()
})
app.rtcPools.on('resume', ({ id }) => suspended.delete(id))
app.rtcPools.on('leave', ({ endpoint }) => suspended.delete(endpoint.id))
/** Resolves once `test()` returns a value other than undefined, or with undefined after `ms`. */
const until = (test, ms) => new Promise((resolve) => {
  const check = () => {
    const value = test()
    if (value === undefined) return
    clearTimeout(timer)
    waiters.delete(check)
    resolve(value)
  }
  const timer = setTimeout(() => {
    waiters.delete(check)
    resolve(undefined)
  }, ms).unref()
  waiters.add(check)
  check()
})
const extra = {
  /** `{ member }`: when it was suspended; `{ count }`: once that many members are suspended here, how many. Null after `ms`. */
  async 'until-suspended' ({ member, count, ms = 10_000 }) {
    const result = await until(() => (member !== undefined ? suspended.get(member) : (suspended.size >= count ? suspended.size : undefined)), ms)
    return { result: result ?? null }
  }
}

await app.listen({ host: '127.0.0.1', port: 0 })
serve({ port: app.server.address().port, path: opts.prefix ?? '/rtc', extra, close: () => { clearInterval(scraper); return app.close() } })
