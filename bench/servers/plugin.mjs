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
await app.register(rtcSignal, opts)
await app.listen({ host: '127.0.0.1', port: 0 })
serve({ port: app.server.address().port, path: opts.prefix ?? '/rtc', close: () => { clearInterval(scraper); return app.close() } })
