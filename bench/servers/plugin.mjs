import Fastify from 'fastify'
import { options, serve } from './harness.mjs'

const mod = await import('../../dist/index.js')
const rtcSignal = typeof mod.default === 'function' ? mod.default : mod.default.default
const opts = { privatePools: false, ...options() }

const app = Fastify({ logger: false })
await app.register(rtcSignal, opts)
await app.listen({ host: '127.0.0.1', port: 0 })
serve({ port: app.server.address().port, path: opts.prefix ?? '/rtc', close: () => app.close() })
