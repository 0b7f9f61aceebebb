import Fastify from 'fastify'
import { options, serve } from './harness.mjs'

const mod = await import('../../dist/index.js')
const rtcSignal = typeof mod.default === 'function' ? mod.default : mod.default.default
// every bench client connects from 127.0.0.1: no per-address or total connection limit
const opts = { privatePools: false, maxConnections: 0, maxConnectionsPerIp: 0, ...options() }
// `metrics: true` (the bench's metrics mode): a prom-client registry, scraped every second as a
// busy Prometheus would, so the scrape-time work (collect) is in the figures too.
let scraper = null
if (opts.metrics === true) {
  const { Registry } = await import('prom-client')
  const registry = new Registry()
  opts.metrics = { registry }
  scraper = setInterval(() => { registry.metrics().catch(() => {}) }, 1000)
}

const app = Fastify({ logger: false })
await app.register(rtcSignal, opts)
await app.listen({ host: '127.0.0.1', port: 0 })
serve({ port: app.server.address().port, path: opts.prefix ?? '/rtc', close: () => { clearInterval(scraper); return app.close() } })
