import type { Socket } from 'node:net'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import type {} from '@fastify/websocket'
import { errors } from '../errors'
import { refuse } from './refuse'

/** At most one log line per this many milliseconds for each kind of refusal. */
const LOG_INTERVAL_MS = 1000

/** Says yes at most once per interval, and how many times it said no since. */
class Throttle {
  #last = -Infinity
  #skipped = 0

  /** The refusals since the last yes (this one included), or 0 when this one must not be logged. */
  take (now: number): number {
    this.#skipped++
    if (now - this.#last < LOG_INTERVAL_MS) return 0
    this.#last = now
    const n = this.#skipped
    this.#skipped = 0
    return n
  }
}

export interface ConnectionLimits {
  /** The `onRequest` hook that counts an upgrade request, or refuses it. */
  readonly admit: onRequestHookHandler
  /**
   * The socket is a WebSocket now: its 'close' listener is added again. During the upgrade its list
   * of 'close' listeners (the HTTP server's, the response's, this one) grew to 19 slots; once the
   * first two are gone, adding this one again leaves a list of two (ws's and this): 144 B less.
   */
  upgraded (socket: Socket | null | undefined): void
}

/**
 * `maxConnections` and `maxConnectionsPerIp`, checked first on the WebSocket routes (an `onRequest`
 * hook): an upgrade request is counted, on its TCP socket, from then until that socket closes.
 * Plain HTTP requests are not counted, and a socket is counted once. Over a limit: 503 or 429
 * before the upgrade, and a log line (warn, info) at most once a second.
 */
export function connectionLimits (maxConnections: number, maxConnectionsPerIp: number): ConnectionLimits {
  let open = 0
  const perIp = new Map<string, number>()
  /** The sockets counted, with the address each was counted under. */
  const counted = new WeakMap<Socket, string>()
  const fullLog = new Throttle()
  const ipLog = new Throttle()

  // One listener for every counted socket (`this`), not a closure per socket: a socket's 'close' comes once.
  const release = function (this: Socket): void {
    const ip = counted.get(this) ?? ''
    open--
    const n = (perIp.get(ip) ?? 1) - 1
    if (n === 0) perIp.delete(ip)
    else perIp.set(ip, n)
  }

  const admit = async function (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    // only upgrades, on a real TCP socket (injectWS has none), still open, not counted yet
    const socket = request.raw.socket as Socket | null | undefined
    if (!request.ws || socket == null || socket.destroyed || counted.has(socket)) return
    if (maxConnections > 0 && open >= maxConnections) {
      const refused = fullLog.take(Date.now())
      if (refused > 0) request.log.warn({ maxConnections, refused }, 'rtc: upgrades refused: maxConnections reached')
      return refuse(reply, new errors.FST_RTC_MAX_CONNECTIONS(maxConnections))
    }
    const ip = request.ip ?? ''
    const fromIp = perIp.get(ip) ?? 0
    if (maxConnectionsPerIp > 0 && fromIp >= maxConnectionsPerIp) {
      const refused = ipLog.take(Date.now())
      if (refused > 0) request.log.info({ ip, maxConnectionsPerIp, refused }, 'rtc: upgrades refused: maxConnectionsPerIp reached')
      return refuse(reply, new errors.FST_RTC_MAX_CONNECTIONS_PER_IP(maxConnectionsPerIp))
    }
    counted.set(socket, ip)
    open++
    perIp.set(ip, fromIp + 1)
    socket.on('close', release)
  }

  return {
    admit,
    upgraded (socket) {
      if (socket == null || !counted.has(socket) || socket.destroyed) return
      socket.removeListener('close', release)
      socket.on('close', release)
    }
  }
}
