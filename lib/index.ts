import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { normalizeOptions, type RtcSignalOptions } from './options'
import { PoolManager } from './pool-manager'
import { routes } from './routes'
import { registerDemo } from './assets'

declare module 'fastify' {
  interface FastifyInstance {
    /** Pools, members and application events of fastify-rtc-signal. */
    rtcPools: PoolManager
  }
}

const rtcSignal: FastifyPluginAsync<RtcSignalOptions> = async function (fastify, opts) {
  const options = normalizeOptions(opts)
  const manager = new PoolManager(options, fastify.log.child({ plugin: 'fastify-rtc-signal' }))
  fastify.decorate('rtcPools', manager)
  // Added before @fastify/websocket's own preClose, so sockets close with 1001 (going away), not 1005.
  fastify.addHook('preClose', async () => { await manager.closeAll() })
  fastify.addHook('onClose', async () => { await manager.dispose() })
  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(websocket, {
      ...options.websocket,
      options: { ...options.websocket.options, maxPayload: options.maxPayload }
    })
  }
  await manager.start()
  await fastify.register(routes, { prefix: options.prefix, manager, options })
  if (options.demo) {
    // A child of its own, at the root (the page answers /:pool); `prefix` here is where the page finds the signalling.
    await fastify.register(async (child) => { await registerDemo(child, { prefix: options.prefix }) })
  }
  fastify.log.debug({ prefix: options.prefix, privatePools: options.privatePools }, 'fastify-rtc-signal registered')
}

export default fp(rtcSignal, { fastify: '5.x', name: 'fastify-rtc-signal' })
export { rtcSignal }
export { errors, type RtcErrorCode } from './errors'
export * from './options'
export { PoolManager, type PoolManagerEvents, type CreatePoolOptions } from './pool-manager'
export { Endpoint, CLOSE_CODES, type LeaveReason } from './endpoint'
export { type AllowsRule, type PoolInfo, type PoolSettings, type Member } from './pool'
export { REASONS, REASON_MESSAGES, type Reason, type Frame, type FrameData } from './protocol'
export type { Adapter, AdapterHost, JoinOutcome, JoinPolicy, MemberInfo } from './adapters/adapter'
export { MemoryAdapter } from './adapters/memory'
export { redisAdapter, type RedisAdapterOptions } from './adapters/redis/index'
