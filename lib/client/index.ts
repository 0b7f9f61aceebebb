// fastify-rtc-signal/client: the browser library.
// A drop-in for rtcpool 3.x pages (same names and event shapes), plus `connect()`.

import { ManagedConnection } from './connection'
import { ManagedStream, RTCStream } from './media'
import { JOIN_REASONS, Pool } from './pool'
import { Signalling, WebSocketSignalling } from './signalling'
import type { SignalError } from './signalling'
import { Transceiver, WebSocketTransceiver, toWebSocketUrl } from './transceiver'
import type { DisconnectDetail, ReconnectOptions, UrlSource } from './transceiver'

export { ManagedConnection, ManagedStream, RTCStream, Pool, Signalling, WebSocketSignalling, WebSocketTransceiver, Transceiver, toWebSocketUrl }
export { TypedEventTarget } from './events'
export type { MediaLike } from './pool'
export type { IceDetail, JoinDetail, PoolEventMap, PoolEventType, PoolTrackEvent, PoolDataChannelEvent, ReconnectingDetail, RejoinedDetail, ResumedDetail } from './pool-events'
export type { PoolEvents } from './pool-events'
export type { IceServer, IceServersResult } from '../types'
export type { SignalError, SignallingEventMap, SignallingOptions } from './signalling'
export type { DisconnectDetail, ReconnectOptions, UrlSource, WebSocketOptions } from './transceiver'
export { DEFAULT_RECONNECT, DRAIN_SPREAD } from './backoff'
export { PEER_BUSY_FIRST_DELAY, PEER_BUSY_TRIES } from './relay-retry'
export { MAX_HELD_FRAMES } from './resume'
export type { MediaTarget, TrackKind } from './media'
export type { FrameData } from '../protocol'
export type { Description, RtcSignalTypes } from '../types'

/** rtcpool 3.x: `new signalling.websocket(ws)`. */
export const signalling = Signalling
/** rtcpool 3.x: `media.ManagedStream`; the seed's older `media.RTCStream`. */
export const media = Object.freeze({ ManagedStream, RTCStream })
/** rtcpool 3.x: `require('rtcpool').pool.Pool`. */
export const pool = Object.freeze({ Pool })

export interface ConnectOptions {
  /**
   * RTCPeerConnection configuration (`iceTransportPolicy`...). Default `{}`. Without `iceServers`
   * here, every connection uses the ICE servers the server sends (if any), refreshed as they expire.
   */
  rtcConfig?: RTCConfiguration
  /**
   * Reconnect when the socket drops (default true): exponential backoff with full jitter (250 ms
   * doubling up to 5 s), at once when the browser comes back `online`, giving up (the pool closes)
   * after `giveUpAfterMs` (default 60 s).
   */
  reconnect?: boolean | ReconnectOptions
  /**
   * Resume after a reconnection (default true, when reconnecting): same id, every peer connection
   * kept, missed frames replayed by the server. When the server cannot (`resume-failed`), the pool
   * joins afresh. False: every reconnection is a leave and a fresh join.
   */
  resume?: boolean
  /** Added to the WebSocket URL's query string (e.g. `{ name: 'Ada', token }`), at every (re)connection. */
  query?: Record<string, string>
  /** Reject if not joined within this many ms (default 15000). */
  timeout?: number
  /** A stream to send to every peer (wrapped in a ManagedStream, available as `pool.media`). */
  stream?: MediaStream
}

/** An Error from `connect()`: `reason` is the server's `rtc:error` reason, or `disconnected` / `timeout`. */
export class JoinError extends Error {
  readonly reason: string
  readonly detail: unknown
  constructor (message: string, reason: string, detail: unknown = null) {
    super(message)
    this.name = 'JoinError'
    this.reason = reason
    this.detail = detail
  }
}

const DEFAULT_CONNECT_TIMEOUT = 15_000

/**
 * Opens a signalling socket to `url` (relative URLs resolve against the page; http(s)
 * becomes ws(s)), joins `poolName`, and resolves with the joined Pool. Rejects with a
 * JoinError if the server refuses the join or the socket fails first. `url` may be a function
 * (sync or async), called before every (re)connection: a page refreshes its auth token there.
 *
 * ```js
 * const pool = await connect('/rtc', 'lobby', { rtcConfig: { iceServers: [] } })
 * const pool = await connect(async () => `/rtc?token=${await freshToken()}`, 'lobby')
 * ```
 */
export async function connect (url: UrlSource, poolName: string, options: ConnectOptions = {}): Promise<Pool & { media: ManagedStream | null }> {
  const nextUrl = async (): Promise<string> => {
    const target = new URL(toWebSocketUrl(typeof url === 'function' ? await url() : url))
    for (const [key, value] of Object.entries(options.query ?? {})) target.searchParams.set(key, value)
    return target.href
  }
  const first = await nextUrl()
  const reconnect = options.reconnect ?? true
  const channel = new WebSocketSignalling(first, {
    reconnect,
    resume: reconnect !== false && options.resume !== false,
    url: typeof url === 'function' ? nextUrl : undefined
  })
  const result = Object.assign(new Pool(options.rtcConfig ?? {}, channel), { media: null as ManagedStream | null })
  if (options.stream !== undefined) result.media = new ManagedStream(options.stream, result)
  return await new Promise((resolve, reject) => {
    const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT
    const done = (err: JoinError | null): void => {
      clearTimeout(timer)
      result.events.removeEventListener('join', onJoin)
      result.events.removeEventListener('error', onError)
      channel.removeEventListener('disconnect', onDisconnect)
      if (err === null) return resolve(result)
      result.close()
      reject(err)
    }
    const onJoin = (): void => done(null)
    const onError = (event: CustomEvent<SignalError>): void => {
      if (JOIN_REASONS.has(event.detail.reason)) done(new JoinError(event.detail.message, event.detail.reason, event.detail))
    }
    const onDisconnect = (event: CustomEvent<DisconnectDetail>): void => {
      const { code, reason } = event.detail
      done(new JoinError(`Signalling socket closed before joining (code ${code}${reason !== '' ? ', ' + reason : ''})`, 'disconnected', { code, reason }))
    }
    const timer = setTimeout(() => done(new JoinError(`Not joined within ${timeout} ms`, 'timeout')), timeout)
    result.events.addEventListener('join', onJoin)
    result.events.addEventListener('error', onError)
    channel.addEventListener('disconnect', onDisconnect)
    result.join(poolName)
  })
}

export default { Pool, pool, signalling, media, ManagedConnection, connect, JoinError }
