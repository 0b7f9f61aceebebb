import type { EventEmitter } from 'node:events'
import type { FastifyPluginAsync } from 'fastify'
import websocket from '@fastify/websocket'
import { createCore } from '../core/core'
import { errors } from '../errors'
import { startMetrics } from '../metrics/metrics'
import { DRAIN_CLOSE_MARGIN_MS, normalizeOptions, type NormalizedOptions, type RtcSignalOptions } from '../options'
import { registerDemo } from './assets'
import { refuseUpgrades } from './drain'
import { routes } from './routes'
import { checkAppWebsocket, websocketOptions } from './websocket'

/** Fastify's pluginTimeout bounds each close hook too: a drain that may take longer would make app.close() fail (AVV_ERR_READY_TIMEOUT). */
function checkDrainDeadline ({ deadlineMs }: NormalizedOptions['drain'], pluginTimeout: number | undefined): void {
  if (pluginTimeout === undefined || pluginTimeout <= 0 || deadlineMs <= pluginTimeout - DRAIN_CLOSE_MARGIN_MS) return
  throw new errors.FST_RTC_INVALID_OPTION('drain.deadlineMs', `${deadlineMs} ms leaves less than ${DRAIN_CLOSE_MARGIN_MS} ms of Fastify's pluginTimeout (${pluginTimeout} ms), which also bounds app.close()'s hooks: raise pluginTimeout (Fastify({ pluginTimeout })) or lower drain.deadlineMs`)
}

/** The plugin's body; lib/index.ts wraps it with fastify-plugin and declares `fastify.rtcPools`. */
export const rtcSignal: FastifyPluginAsync<RtcSignalOptions> = async function (fastify, opts) {
  if (fastify.hasDecorator('rtcPools')) throw new errors.FST_RTC_ALREADY_REGISTERED()
  const options = normalizeOptions(opts)
  checkDrainDeadline(options.drain, fastify.initialConfig.pluginTimeout)
  const appWebsocket = fastify.hasDecorator('websocketServer')
  if (appWebsocket) checkAppWebsocket(fastify, options.maxPayload)
  const log = fastify.log.child({ plugin: 'fastify-rtc-signal' })
  const core = createCore(options, log)
  fastify.decorate('rtcPools', core.manager)
  if (options.metrics !== null) {
    // prom-client is loaded here, only when metrics are on (FST_RTC_METRICS_UNAVAILABLE when it is missing).
    const metrics = await startMetrics(options.metrics, { node: core.manager.node, stats: () => core.stats() }, log)
    fastify.addHook('onClose', async () => { metrics.close() })
  }
  // Added before @fastify/websocket's own preClose, so sockets are drained (1012 or 1001), not closed with 1005.
  // New upgrades get 503 with Retry-After meanwhile (lib/fastify/drain.ts).
  const upgradeServer: EventEmitter = options.websocket.options?.server ?? fastify.server
  fastify.addHook('preClose', async () => {
    refuseUpgrades(upgradeServer, core.manager.node)
    await core.closeAll()
  })
  fastify.addHook('onClose', async () => { await core.dispose() })
  if (!appWebsocket) await fastify.register(websocket, websocketOptions(fastify, options))
  await core.start()
  const poolExists = async (name: string): Promise<boolean> => (await core.manager.get(name)) !== null
  await fastify.register(routes, { prefix: options.prefix, connect: core.connect, poolExists, options, node: core.manager.node, ownWebsocket: !appWebsocket })
  if (options.demo) {
    // A child of its own, at the context's root (the page answers /:pool there); the page is told
    // where it lives (`base`) and where the signalling is, both under the context's own prefix.
    const base = fastify.prefix
    await fastify.register(async (child) => { await registerDemo(child, { base, prefix: base + options.prefix }) })
  }
  fastify.log.debug({ prefix: options.prefix, privatePools: options.privatePools }, 'fastify-rtc-signal registered')
}
