import type { ServerResponse } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { ConnectionRequest } from '../core/endpoint'

/** Fields copied by name below, and those not kept: the Node request (its socket, its parser's state), the body (none on an upgrade), `ws` (always true here). */
const NOT_COPIED = new Set(['id', 'params', 'query', 'log', 'raw', 'body', 'ws'])

/**
 * Headers whose values most connections share (the handshake's, the server's host, a browser's):
 * kept once for all connections (the HTTP parser makes a new string for every request). Never one
 * that may carry a secret or identify a client (cookie, authorization, sec-websocket-key...).
 */
const SHARED_HEADERS = [
  'host', 'connection', 'upgrade', 'sec-websocket-version', 'sec-websocket-extensions', 'origin', 'user-agent',
  'accept-encoding', 'accept-language', 'cache-control', 'pragma'
]
/** How many distinct values are remembered at most (past it they are forgotten and remembered anew), and the longest. */
const MAX_SHARED_VALUES = 256
const MAX_SHARED_LENGTH = 512

/**
 * One string for each distinct value (of SHARED_HEADERS, a hostname...) the connections keep, so
 * that equal values cost their bytes once; anything else is returned as it is.
 */
export type SharedStrings = <T>(value: T) => T

export function sharedStrings (): SharedStrings {
  const known = new Map<string, string>()
  return (value) => {
    if (typeof value !== 'string' || value.length > MAX_SHARED_LENGTH) return value
    const same = known.get(value)
    if (same !== undefined) return same as typeof value
    if (known.size >= MAX_SHARED_VALUES) known.clear()
    known.set(value, value)
    return value
  }
}

/**
 * What a connection keeps of its upgrade request: the fields hooks read (`id`, `params`, `query`,
 * `headers`, `log`, `ip`, `ips`, `hostname`, `host`, `protocol`, `method`, `url`) and every field your
 * hooks set on the request (`request.user`, `request.cookies`...), as values. Not the Node request,
 * the reply or the response: kept for the socket's whole life, they cost about 3 KiB per connection.
 */
export function keepRequest (request: FastifyRequest, shared: SharedStrings): ConnectionRequest {
  const headers = request.headers
  for (const name of SHARED_HEADERS) {
    if (headers[name] !== undefined) headers[name] = shared(headers[name])
  }
  const url = request.url
  // One literal (its fields in the object itself), then what the app's decorators and hooks set.
  const kept: Record<string, unknown> = {
    id: request.id,
    params: request.params,
    query: request.query,
    headers,
    log: request.log,
    ip: request.ip,
    ips: request.ips,
    hostname: shared(request.hostname),
    host: shared(request.host),
    protocol: request.protocol,
    method: request.method,
    // a query string may carry a token: such a URL is not remembered for other connections
    url: url.includes('?') ? url : shared(url)
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
