import type {
  FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, onResponseHookHandler, preHandlerHookHandler, preValidationHookHandler, RouteShorthandOptions
} from 'fastify'
import type {} from '@fastify/websocket'
import type { WebSocket } from '@fastify/websocket'
import type { Core } from '../core/core'
import { channels, refusalOf } from '../core/diagnostics'
import { errors } from '../errors'
import type { NormalizedOptions, OriginCheck } from '../options'
import { isPoolName } from '../protocol'
import { registerAssets } from './assets'
import { connectionLimits } from './connection-limits'
import { notFound, pathOf, queryFreeLoggers } from './logging'
import { refuse } from './refuse'
import { keepRequest, sharedStrings, upgradeResponses } from './upgrade-request'
import { ownSocketErrors } from './websocket'

export interface RoutesOptions {
  /** Hands an upgraded socket to the core. */
  connect: Core['connect']
  /** Whether a pool exists (cluster-wide): a private server answers 404 before the upgrade for one that does not. */
  poolExists: (name: string) => Promise<boolean>
  options: NormalizedOptions
  /** The server's id, for the facts it publishes (lib/core/diagnostics.ts). */
  node: string
  /** The plugin registered @fastify/websocket itself (with its own errorHandler). */
  ownWebsocket?: boolean
}

function slashes (path: string): number {
  let n = 0
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) n++
  return n
}

type Hooks<T> = T | T[] | undefined

function list<T> (hooks: Hooks<T>): T[] {
  if (hooks === undefined) return []
  return Array.isArray(hooks) ? hooks : [hooks]
}

/**
 * The encapsulated child, registered under `prefix`: `GET /` (pool named by `rtc:join`) and
 * `GET /*` (connection bound to the pool in the path). The app's `routeOptions` (auth hooks,
 * config) go onto both, after the plugin's own Origin and pool-name checks, so a hook can answer
 * 401/403 and the socket is never opened. The browser client is served beside them
 * (`{prefix}/client.js`, `{prefix}/client.mjs`), without the auth hooks.
 */
export async function routes (fastify: FastifyInstance, { connect, poolExists, options, node, ownWebsocket = false }: RoutesOptions): Promise<void> {
  const { originAllowed, maxPoolNameLength, privatePools } = options
  const limits = connectionLimits(options.maxConnections, options.maxConnectionsPerIp)
  // Nothing under the prefix is logged with its query string: routes, 404s (any method), errors.
  fastify.setChildLoggerFactory(queryFreeLoggers(fastify.childLoggerFactory))
  fastify.setNotFoundHandler(notFound)
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

  /**
   * `{prefix}/*` (find-my-way limits a `:param` to maxParamLength, 100, not a wildcard): the raw path
   * must have no further '/' (an encoded one, %2F, is part of the name). The name, decoded by the
   * router, becomes `request.params.pool` for every hook after this one.
   */
  const bindPoolParam: onRequestHookHandler = async function (request: FastifyRequest, reply: FastifyReply) {
    if (slashes(pathOf(request.url)) !== slashes(request.routeOptions.url ?? '')) {
      reply.callNotFound()
      return reply
    }
    const params = request.params as Record<string, string>
    request.params = { pool: params['*'] }
  }

  const checkPoolParam: preValidationHookHandler = async function (request: FastifyRequest, _reply: FastifyReply) {
    const { pool } = request.params as { pool: string }
    if (!isPoolName(pool, maxPoolNameLength)) {
      throw new errors.FST_RTC_INVALID_POOL_NAME(`the pool in the URL must have 1 to ${maxPoolNameLength} characters`)
    }
  }

  /** Last of all, after the app's own hooks (so an unauthenticated client cannot probe for pool names). */
  const checkPoolExists: preHandlerHookHandler = async function (request: FastifyRequest, reply: FastifyReply) {
    const { pool } = request.params as { pool: string }
    if (await poolExists(pool)) return
    const err = new errors.FST_RTC_NO_SUCH_POOL(pool)
    err.message += ': this server has privatePools: true, so clients join only pools that server code created ' +
      'with fastify.rtcPools.createPool(name) (or register the plugin with privatePools: false)'
    request.log.debug({ pool }, 'rtc: upgrade refused: no such pool')
    return refuse(reply, err)
  }

  // An upgrade that went through has no HTTP response (the reply is hijacked): this runs for refusals only.
  const refused: onResponseHookHandler = async function (request: FastifyRequest, reply: FastifyReply) {
    if (!channels.connection.hasSubscribers) return
    const result = refusalOf(reply.statusCode, originDenied.has(request))
    channels.connection.publish({ node, event: 'refused', result, statusCode: reply.statusCode })
  }

  // A socket keeps nothing of its upgrade but what keepRequest copies: not the request, the reply or the response.
  const responses = upgradeResponses()
  const shared = sharedStrings()
  const remember: onRequestHookHandler = async function (request: FastifyRequest, reply: FastifyReply) {
    if (request.ws) responses.remember(request, reply.raw)
  }
  const accept = (socket: WebSocket, request: FastifyRequest, pool: string | null): void => {
    responses.release(request)
    limits.upgraded(request.raw.socket)
    const kept = keepRequest(request, shared)
    if (ownWebsocket) ownSocketErrors(socket, kept)
    connect(socket, kept, pool)
  }

  const upgradeRequired = async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> =>
    refuse(reply.header('upgrade', 'websocket'), new errors.FST_RTC_UPGRADE_REQUIRED())

  // connection limits first, then the Origin, then the app's hooks
  const guards = [...(originAllowed === null ? [] : [checkOrigin(originAllowed)]), ...list(user.onRequest as Hooks<onRequestHookHandler>)]
  const base = {
    ...user,
    method: 'GET' as const,
    // a plain GET (no upgrade) gets `handler`, an upgrade `wsHandler`
    handler: upgradeRequired,
    onRequest: [remember, limits.admit, ...guards],
    onResponse: [...list(user.onResponse as Hooks<onResponseHookHandler>), refused]
  }

  fastify.route({
    ...base,
    url: '/',
    wsHandler: (socket, request) => { accept(socket, request, null) }
  })

  fastify.route({
    ...base,
    url: '/*',
    onRequest: [remember, limits.admit, bindPoolParam, ...guards],
    preValidation: [checkPoolParam, ...list(user.preValidation as Hooks<preValidationHookHandler>)],
    preHandler: [...list(user.preHandler as Hooks<preHandlerHookHandler>), ...(privatePools ? [checkPoolExists] : [])],
    wsHandler: (socket, request) => { accept(socket, request, (request.params as { pool: string }).pool) }
  })

  await registerAssets(fastify, { demo: options.demo, prefix: options.prefix })
}
