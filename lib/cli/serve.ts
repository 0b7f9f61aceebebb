import Fastify, { type FastifyInstance } from 'fastify'
import rtcSignal, { DEFAULT_PREFIX, redisAdapter } from '../index'
import { loadPromClient } from '../metrics/metrics'
import { DRAIN_CLOSE_MARGIN_MS } from '../options'
import { METRICS_PATH, type CliConfig } from './args'
import { describeIceServers, iceServersOption } from './ice'

/** Exit codes of a second signal during shutdown: 128 + the signal's number, as shells report. */
const SIGNAL_EXIT: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 }

/** The URL a person can paste: a wildcard address is shown as the loopback one. */
function publicHost (host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}

/** The app, not started yet (so signal handlers can be installed before it starts). */
export function createServer (config: CliConfig): FastifyInstance {
  // pluginTimeout also bounds each close hook: room for the drain (lib/fastify/plugin.ts).
  return Fastify({ logger: { level: config.logLevel }, pluginTimeout: Math.max(10_000, (config.pluginOptions.drain?.deadlineMs ?? 0) + 2 * DRAIN_CLOSE_MARGIN_MS) })
}

/** Registers the plugin, creates the --pool pools and listens; closes the app when that fails. Returns the signalling URL. */
export async function startServer (app: FastifyInstance, config: CliConfig): Promise<string> {
  try {
    const iceServers = iceServersOption(config.ice)
    const metrics = config.metrics ? await metricsRoute(app) : undefined
    await app.register(rtcSignal, {
      ...config.pluginOptions,
      ...(config.redis === null ? {} : { adapter: redisAdapter({ url: config.redis }) }),
      ...(iceServers === undefined ? {} : { iceServers }),
      ...(metrics === undefined ? {} : { metrics })
    })
    await app.ready()
    // URLs and lifetimes only: the secret stays out of the log.
    app.log.info({ ice: describeIceServers(iceServers) }, 'fastify-rtc-signal: ICE servers for the members')
    for (const pool of config.pools) {
      try {
        await app.rtcPools.createPool(pool)
      } catch (err) {
        // Another process of the cluster created it first: the pool exists, as asked.
        if ((err as { code?: string }).code !== 'FST_RTC_POOL_EXISTS') throw err
      }
    }
    await app.listen(config.listen)
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  const address = app.server.address()
  const port = address !== null && typeof address === 'object' ? address.port : config.listen.port
  const base = `${publicHost(config.listen.host)}:${port}`
  const prefix = config.pluginOptions.prefix ?? DEFAULT_PREFIX
  const url = `ws://${base}${prefix}`
  const isPrivate = config.pluginOptions.privatePools !== false
  app.log.info({ signalling: url, privatePools: isPrivate, pools: config.pools }, `fastify-rtc-signal: signalling at ${url}`)
  if (config.pluginOptions.demo === true) app.log.info({ demo: `http://${base}/lobby` }, `fastify-rtc-signal: demo page at http://${base}/<pool>`)
  if (isPrivate && config.pools.length === 0) {
    app.log.warn('fastify-rtc-signal: private server without pools: every join is refused (no-such-pool); start it with --public or --pool <name>')
  }
  return url
}

/**
 * `--metrics`: a registry of this server's own (the plugin's metrics and Node's process metrics)
 * served at METRICS_PATH in the Prometheus text format.
 */
export async function metricsRoute (app: FastifyInstance): Promise<{ registry: import('prom-client').Registry }> {
  const promClient = await loadPromClient()
  const registry = new promClient.Registry()
  promClient.collectDefaultMetrics({ register: registry })
  app.get(METRICS_PATH, async (request, reply) => {
    reply.type(registry.contentType)
    return await registry.metrics()
  })
  return { registry }
}

/**
 * SIGTERM/SIGINT: close gracefully (every socket gets 1001), then exit 0, or 1 if closing failed.
 * A second signal while closing exits at once.
 */
export function closeOnSignals (app: FastifyInstance, exit: (code: number) => void = process.exit): void {
  let closing = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (closing) {
        exit(SIGNAL_EXIT[signal])
        return
      }
      closing = true
      app.log.info({ signal }, 'fastify-rtc-signal: closing')
      app.close().then(() => exit(0), (err: unknown) => {
        app.log.error({ err }, 'fastify-rtc-signal: close failed')
        exit(1)
      })
    })
  }
}
