import type { EventEmitter } from 'node:events'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { WebSocket, WebsocketPluginOptions } from '@fastify/websocket'
import { errors } from '../errors'
import type { NormalizedOptions } from '../options'

/** HTTP servers on which this plugin registered @fastify/websocket: its 'upgrade' listener routes every upgrade. */
const routedServers = new WeakSet<EventEmitter>()

/**
 * Stands in for the HTTP server in a further @fastify/websocket registration (another instance of the
 * plugin in a sibling context): that registration must not listen to 'upgrade' too, or every upgrade
 * would be routed twice (the router is the whole app's). Its `injectWS` still works: what it emits
 * goes to the real server, whose one listener routes it.
 */
function relayTo (server: EventEmitter): Pick<EventEmitter, 'on' | 'removeListener' | 'emit'> {
  const relay = {
    on () { return relay },
    removeListener () { return relay },
    emit: (event: string | symbol, ...args: unknown[]) => server.emit(event, ...args)
  }
  return relay as unknown as Pick<EventEmitter, 'on' | 'removeListener' | 'emit'>
}

/**
 * @fastify/websocket's `errorHandler`: an error on an open socket, or thrown by the route's handler.
 * A client that breaks the WebSocket protocol (invalid UTF-8, a bad opcode, a frame over maxPayload:
 * ws's `WS_ERR_*` codes; ws has already sent the close code) is the client's problem: debug, no
 * stack. Anything else is the server's: error. Either way the socket is terminated, as by default.
 */
function onSocketError (error: Error, socket: WebSocket, request: { log: FastifyBaseLogger }): void {
  const code = (error as NodeJS.ErrnoException).code
  if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
    request.log.debug({ code, message: error.message }, 'rtc: the client broke the WebSocket protocol')
  } else {
    request.log.error({ err: error }, 'rtc: WebSocket error')
  }
  socket.terminate()
}

/** What each socket kept of its upgrade request, for its 'error' listener: one function for all sockets, not a closure each. */
const keptRequests = new WeakMap<WebSocket, { log: FastifyBaseLogger }>()

function onKeptSocketError (this: WebSocket, error: Error): void {
  const request = keptRequests.get(this)
  if (request !== undefined) onSocketError(error, this, request)
}

/**
 * When the plugin registered @fastify/websocket itself: swaps its per-socket 'error' listener (a
 * closure over the upgrade's request and reply, which would keep both for the socket's life) for
 * the same errorHandler over what the connection kept of the request. Called in the route's
 * wsHandler, where that listener is the socket's only one; the socket is never without one.
 */
export function ownSocketErrors (socket: WebSocket, request: { log: FastifyBaseLogger }): void {
  socket.removeAllListeners('error')
  keptRequests.set(socket, request)
  socket.on('error', onKeptSocketError)
}

/** The @fastify/websocket options when the plugin registers it itself. */
export function websocketOptions (fastify: FastifyInstance, options: NormalizedOptions): WebsocketPluginOptions {
  const wsOptions: Record<string, unknown> = { ...options.websocket.options, maxPayload: options.maxPayload }
  const server: EventEmitter = options.websocket.options?.server ?? fastify.server
  if (routedServers.has(server)) wsOptions.server = relayTo(server)
  routedServers.add(server)
  return { errorHandler: onSocketError, ...options.websocket, options: wsOptions }
}

/**
 * The app registered @fastify/websocket itself: ws enforces (and with permessage-deflate inflates up to)
 * its maxPayload before the plugin sees a frame, so it must not be larger than the plugin's.
 */
export function checkAppWebsocket (fastify: FastifyInstance, maxPayload: number): void {
  const appMax = fastify.websocketServer.options.maxPayload
  // ws reads 0 (and no number at all) as no limit
  if (typeof appMax !== 'number' || appMax <= 0 || appMax > maxPayload) {
    throw new errors.FST_RTC_WEBSOCKET_MAX_PAYLOAD(typeof appMax === 'number' && appMax > 0 ? appMax : 'unlimited', maxPayload, maxPayload)
  }
}
