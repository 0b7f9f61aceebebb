import type {
  FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, onResponseHookHandler, preValidationHookHandler, RouteShorthandOptions
} from 'fastify'
import type {} from '@fastify/websocket'
import type { Core } from '../core/core'
import { channels, refusalOf } from '../core/diagnostics'
import { errors } from '../errors'
import type { NormalizedOptions, OriginCheck } from '../options'
import { isPoolName } from '../protocol'
import { registerAssets } from './assets'

export interface RoutesOptions {
  /** Hands an upgraded socket to the core. */
  connect: Core['connect']
  options: NormalizedOptions
  /** The server's id, for the facts it publishes (lib/core/diagnostics.ts). */
  node: string
}

/** Browsers put tokens in the query string (they cannot set headers on a WebSocket): never log it. */
function withoutQuery (req: { method: string, url: string, ip?: string }): Record<string, unknown> {
  const q = req.url.indexOf('?')
  return { method: req.method, url: q === -1 ? req.url : req.url.slice(0, q), remoteAddress: req.ip }
}

type Hooks<T> = T | T[] | undefined

function list<T> (hooks: Hooks<T>): T[] {
  if (hooks === undefined) return []
  return Array.isArray(hooks) ? hooks : [hooks]
}

/**
 * The encapsulated child, registered under `prefix`: `GET /` (pool named by `rtc:join`) and
 * `GET /:pool` (connection bound to the pool in the path). The app's `routeOptions` (auth hooks,
 * config) go onto both, after the plugin's own Origin and pool-name checks, so a hook can answer
 * 401/403 and the socket is never opened. The browser client is served beside them
 * (`{prefix}/client.js`, `{prefix}/client.mjs`), without the auth hooks.
 */
export async function routes (fastify: FastifyInstance, { connect, options, node }: RoutesOptions): Promise<void> {
  const { originAllowed, maxPoolNameLength } = options
  const user = options.routeOptions as RouteShorthandOptions & Record<string, unknown>
  const originDenied = new WeakSet<FastifyRequest>()

  const checkOrigin = (allowed: OriginCheck): onRequestHookHandler => async function (request: FastifyRequest) {
    const origin = request.headers.origin
    if (!allowed(origin, request)) {
      request.log.info({ origin }, 'rtc: upgrade refused: origin not allowed')
      originDenied.add(request)
      throw new errors.FST_RTC_ORIGIN_FORBIDDEN(origin ?? '')
    }
  }

  const checkPoolParam: preValidationHookHandler = async function (request: FastifyRequest, _reply: FastifyReply) {
    const { pool } = request.params as { pool: string }
    if (!isPoolName(pool, maxPoolNameLength)) {
      throw new errors.FST_RTC_INVALID_POOL_NAME(`the pool in the URL must have 1 to ${maxPoolNameLength} characters`)
    }
  }

  // An upgrade that went through has no HTTP response (the reply is hijacked): this runs for refusals only.
  const refused: onResponseHookHandler = async function (request: FastifyRequest, reply: FastifyReply) {
    if (!channels.connection.hasSubscribers) return
    const result = refusalOf(reply.statusCode, originDenied.has(request))
    channels.connection.publish({ node, event: 'refused', result, statusCode: reply.statusCode })
  }

  const base = {
    logSerializers: { req: withoutQuery },
    ...user,
    websocket: true as const,
    onRequest: [...(originAllowed === null ? [] : [checkOrigin(originAllowed)]), ...list(user.onRequest as Hooks<onRequestHookHandler>)],
    onResponse: [...list(user.onResponse as Hooks<onResponseHookHandler>), refused]
  }

  fastify.get('/', base, (socket, request) => {
    connect(socket, request, null)
  })

  fastify.get('/:pool', {
    ...base,
    preValidation: [checkPoolParam, ...list(user.preValidation as Hooks<preValidationHookHandler>)]
  }, (socket, request) => {
    connect(socket, request, (request.params as { pool: string }).pool)
  })

  await registerAssets(fastify, { demo: options.demo, prefix: options.prefix })
}
