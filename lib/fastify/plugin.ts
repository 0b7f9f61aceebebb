import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { createCore } from '../core/core'
import type { PoolManager } from '../core/pool-manager'
import { startMetrics } from '../metrics/metrics'
import { normalizeOptions, type RtcSignalOptions } from '../options'
import { registerDemo } from './assets'
import { routes } from './routes'

declare module 'fastify' {
  interface FastifyInstance {
    /** Pools, members and application events of fastify-rtc-signal. */
    rtcPools: PoolManager
  }
}

export const rtcSignal: FastifyPluginAsync<RtcSignalOptions> = async function (fastify, opts) {
  const options = normalizeOptions(opts)
  const log = fastify.log.child({ plugin: 'fastify-rtc-signal' })
  const core = createCore(options, log)
  fastify.decorate('rtcPools', core.manager)
  if (options.metrics !== null) {
    // prom-client is loaded here, only when metrics are on (FST_RTC_METRICS_UNAVAILABLE when it is missing).
    const metrics = await startMetrics(options.metrics, { node: core.manager.node, stats: () => core.stats() }, log)
    fastify.addHook('onClose', async () => { metrics.close() })
  }
  // Added before @fastify/websocket's own preClose, so sockets close with 1001 (going away), not 1005.
  fastify.addHook('preClose', async () => { await core.closeAll() })
  fastify.addHook('onClose', async () => { await core.dispose() })
  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(websocket, {
      ...options.websocket,
      options: { ...options.websocket.options, maxPayload: options.maxPayload }
    })
  }
  await core.start()
  await fastify.register(routes, { prefix: options.prefix, connect: core.connect, options, node: core.manager.node })
  if (options.demo) {
    // A child of its own, at the root (the page answers /:pool); `prefix` here is where the page finds the signalling.
    await fastify.register(async (child) => { await registerDemo(child, { prefix: options.prefix }) })
  }
  fastify.log.debug({ prefix: options.prefix, privatePools: options.privatePools }, 'fastify-rtc-signal registered')
}

export default fp(rtcSignal, { fastify: '5.x', name: 'fastify-rtc-signal' })
