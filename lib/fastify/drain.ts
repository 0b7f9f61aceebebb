import { STATUS_CODES } from 'node:http'
import type { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { channels } from '../core/diagnostics'
import { errors } from '../errors'

/** What a client is told to wait before it connects again (and resumes, most likely on another process). */
export const DRAIN_RETRY_AFTER_SECONDS = 5

/** Servers whose upgrades are already refused (several instances of the plugin on one server close together). */
const refusing = new WeakSet<EventEmitter>()

/**
 * From now on, every WebSocket upgrade on `server` is answered 503 with `Retry-After` and the
 * FST_RTC_DRAINING body, before routing (Fastify, closing, would answer a bare 503 without
 * Retry-After). The server is closing: its other upgrade listeners are let go.
 */
export function refuseUpgrades (server: EventEmitter, node: string): void {
  if (refusing.has(server)) return
  refusing.add(server)
  const err = new errors.FST_RTC_DRAINING()
  const statusCode = err.statusCode ?? 503
  const body = JSON.stringify({ statusCode, code: err.code, error: STATUS_CODES[statusCode], message: err.message })
  const response = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\n` +
    `Retry-After: ${DRAIN_RETRY_AFTER_SECONDS}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  server.removeAllListeners('upgrade')
  server.on('upgrade', (_request: unknown, socket: Duplex) => {
    socket.on('error', () => {}) // a client that went away meanwhile: nothing to tell it
    socket.end(response)
    if (channels.connection.hasSubscribers) channels.connection.publish({ node, event: 'refused', result: 'shutting-down', statusCode })
  })
}
