import type { ServerResponse } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { ConnectionRequest } from '../core/endpoint'

/** Fields copied by name below, and those not kept: the Node request (its socket, its parser's state), the body (none on an upgrade), `ws` (always true here). */
const NOT_COPIED = new Set(['id', 'params', 'query', 'log', 'raw', 'body', 'ws'])

/**
 * What a connection keeps of its upgrade request: the fields hooks read (`id`, `params`, `query`,
 * `headers`, `log`, `ip`, `ips`, `hostname`, `host`, `protocol`, `method`, `url`) and every field your
 * hooks set on the request (`request.user`, `request.cookies`...), as values. Not the Node request,
 * the reply or the response: kept for the socket's whole life, they cost about 3 KiB per connection.
 */
export function keepRequest (request: FastifyRequest): ConnectionRequest {
  // One literal (its fields in the object itself), then what the app's decorators and hooks set.
  const kept: Record<string, unknown> = {
    id: request.id,
    params: request.params,
    query: request.query,
    headers: request.headers,
    log: request.log,
    ip: request.ip,
    ips: request.ips,
    hostname: request.hostname,
    host: request.host,
    protocol: request.protocol,
    method: request.method,
    url: request.url
  }
  const source = request as unknown as Record<string, unknown>
  for (const key of Object.keys(source)) if (!NOT_COPIED.has(key)) kept[key] = source[key]
  return kept as ConnectionRequest
}

/**
 * The upgrade's unused `ServerResponse`: @fastify/websocket assigns it the socket so that hooks can
 * answer an HTTP refusal, and never detaches it, so the socket would keep it (and through it the
 * Node request) for its whole life. `remember` from an `onRequest` hook (which has the reply),
 * `release` once the socket is a WebSocket.
 */
export function upgradeResponses (): { remember: (request: FastifyRequest, response: ServerResponse) => void, release: (request: FastifyRequest) => void } {
  const responses = new WeakMap<FastifyRequest, ServerResponse>()
  return {
    remember (request, response) {
      responses.set(request, response)
    },
    release (request) {
      const response = responses.get(request)
      const socket = request.raw.socket
      // detachSocket is assignSocket's counterpart: it unsets the socket's response and its close listener
      if (response !== undefined && socket != null && response.socket === socket) response.detachSocket(socket)
      responses.delete(request)
    }
  }
}
