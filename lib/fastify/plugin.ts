import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { createCore } from '../core/core'
import { errors } from '../errors'
import type { PoolManager } from '../core/pool-manager'
import { normalizeOptions, type RtcSignalOptions } from '../options'
import { registerDemo } from './assets'
import { routes } from './routes'
import { checkAppWebsocket, websocketOptions } from './websocket'

declare module 'fastify' {
  interface FastifyInstance {
    /** Pools, members and application events of fastify-rtc-signal. */
    rtcPools: PoolManager
  }
}

export const rtcSignal: FastifyPluginAsync<RtcSignalOptions> = async function (fastify, opts) {
  if (fastify.hasDecorator('rtcPools')) throw new errors.FST_RTC_ALREADY_REGISTERED()
  const options = normalizeOptions(opts)
  const appWebsocket = fastify.hasDecorator('websocketServer')
  if (appWebsocket) checkAppWebsocket(fastify, options.maxPayload)
  const core = createCore(options, fastify.log.child({ plugin: 'fastify-rtc-signal' }))
  fastify.decorate('rtcPools', core.manager)
  // Added before @fastify/websocket's own preClose, so sockets close with 1001 (going away), not 1005.
  fastify.addHook('preClose', async () => { await core.closeAll() })
  fastify.addHook('onClose', async () => { await core.dispose() })
  if (!appWebsocket) await fastify.register(websocket, websocketOptions(fastify, options))
  await core.start()
  const poolExists = async (name: string): Promise<boolean> => (await core.manager.get(name)) !== null
  await fastify.register(routes, { prefix: options.prefix, connect: core.connect, poolExists, options })
  if (options.demo) {
    // A child of its own, at the context's root (the page answers /:pool there); the page is told
    // where it lives (`base`) and where the signalling is, both under the context's own prefix.
    const base = fastify.prefix
    await fastify.register(async (child) => { await registerDemo(child, { base, prefix: base + options.prefix }) })
  }
  fastify.log.debug({ prefix: options.prefix, privatePools: options.privatePools }, 'fastify-rtc-signal registered')
}

export default fp(rtcSignal, { fastify: '5.x', name: 'fastify-rtc-signal' })
