import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

type ChildLoggerFactory = FastifyInstance['childLoggerFactory']

/** The request's path, without its query string. */
export function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

interface LoggedRequest {
  method: string
  url: string
  headers?: Record<string, unknown>
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/**
 * Fastify's `req` serializer without the query string: browsers put tokens there (they cannot set
 * headers on a WebSocket), and no log line may carry one.
 */
export function withoutQuery (req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: pathOf(req.url),
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort
  }
}

/**
 * A child logger factory for the plugin's prefixed context: every request logger there (routes, 404s,
 * errors) serializes `req` without the query string, whatever the route. Wraps the app's own factory.
 * Each request's logger is a plain child of one query-free logger made once per parent logger, so a
 * request (kept by its socket for a connection's life) does not carry serializers of its own.
 */
export function queryFreeLoggers (parent: ChildLoggerFactory): ChildLoggerFactory {
  const queryFree = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>()
  return function (logger, bindings, opts, rawReq) {
    if (opts.serializers === undefined) {
      let base = queryFree.get(logger)
      if (base === undefined) queryFree.set(logger, base = logger.child({}, { serializers: { req: withoutQuery } }))
      return parent.call(this, base, bindings, opts, rawReq)
    }
    // pino reads inherited serializers too (for...in): the route's and the app's stay, `req` is replaced
    const serializers = Object.assign(Object.create(opts.serializers) as object, { req: withoutQuery })
    return parent.call(this, logger, bindings, { ...opts, serializers }, rawReq)
  }
}

/** The 404 of the plugin's context: Fastify's shape, without the query string in the message. */
export async function notFound (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  return reply.code(404).send({ message: `Route ${request.method}:${pathOf(request.url)} not found`, error: 'Not Found', statusCode: 404 })
}
