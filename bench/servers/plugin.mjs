import Fastify from 'fastify'
import { options, serve } from './harness.mjs'

const mod = await import('../../dist/index.js')
const rtcSignal = typeof mod.default === 'function' ? mod.default : mod.default.default
// every bench client connects from 127.0.0.1: no per-address or total connection limit
const opts = { privatePools: false, maxConnections: 0, maxConnectionsPerIp: 0, ...options() }

const app = Fastify({ logger: false })
await app.register(rtcSignal, opts)
await app.listen({ host: '127.0.0.1', port: 0 })
serve({ port: app.server.address().port, path: opts.prefix ?? '/rtc', close: () => app.close() })
