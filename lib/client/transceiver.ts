// Transports: what carries ssp-v2 frames. A Transceiver dispatches every frame it receives
// as `CustomEvent(type, { detail: data })` (rtcpool 3.x's contract), plus the INTERNAL
// connection-state events. WebSocketTransceiver owns the socket: buffering while it
// connects, reconnection with backoff. It knows nothing of pools or peers.

import { isFrameError, isProtocolType, parseFrame } from '../protocol'
import type { FrameData } from '../protocol'
import { reconnectDelay, reconnectPolicy } from './backoff'
import type { ReconnectOptions, ReconnectPolicy } from './backoff'

export interface DisconnectDetail {
  code: number
  reason: string
  /** True when the transceiver will try again after `delay` milliseconds. */
  reconnecting: boolean
  delay: number | null
  attempt: number
  /**
   * True when the session will be resumed on the new socket (same id, every peer connection kept):
   * set by the signalling channel, always false from a transceiver.
   */
  resuming: boolean
}

export type { ReconnectOptions }

/** A URL to open, or a function giving one (called before every reconnection, e.g. to put a fresh auth token in it). */
export type UrlSource = string | URL | (() => string | URL | Promise<string | URL>)

export interface WebSocketOptions {
  /**
   * Reconnect with exponential backoff and full jitter when the socket closes unexpectedly.
   * Default: true when given a URL, false when given a WebSocket (rtcpool behaviour).
   */
  reconnect?: boolean | ReconnectOptions
  /** WebSocket subprotocols. */
  protocols?: string | string[]
  /**
   * The URL each reconnection opens, called before every one of them (e.g. to refresh an auth
   * token in the query string). Default: the URL of the first socket. A rejection counts as a
   * failed attempt.
   */
  url?: () => string | URL | Promise<string | URL>
}

/** A reconnection whose socket has not opened after this long (ms) counts as failed: the next one is tried. */
export const CONNECT_TIMEOUT = 10_000

/**
 * Connection-state events a transceiver dispatches beside the frames. Server frames
 * whose type starts with this prefix are delivered only as application messages.
 */
const INTERNAL_PREFIX = 'transceiver:'
export const INTERNAL = Object.freeze({
  /** detail `{ reconnected: boolean }` */
  open: 'transceiver:open',
  /** detail: a DisconnectDetail */
  disconnect: 'transceiver:disconnect',
  /** detail: a SignalError (a frame that could not be read) */
  invalid: 'transceiver:invalid',
  /** detail `{ type, data }`: an application event (a frame whose type does not start with `rtc:`) */
  message: 'transceiver:message',
  /** detail `{ type, data }` (both null for a frame that could not be read): every frame received, before its own event */
  frame: 'transceiver:frame'
})

/**
 * Base class of transports: an EventTarget that dispatches every received frame as
 * `CustomEvent(type, { detail: data })` and can `send(type, data)`. A custom transport
 * may also dispatch the `INTERNAL` events (open, disconnect, application message).
 */
export abstract class Transceiver extends EventTarget {
  /** Sends a frame; returns false when it was dropped (the transport is closed). */
  abstract send (type: string, data: FrameData): boolean
  /** Closes the transport for good. */
  abstract close (): void
}

/** Resolves a relative or http(s) URL to a ws(s) URL, against `location` when there is one. */
export function toWebSocketUrl (url: string | URL): string {
  const base = typeof location !== 'undefined' ? location.href : undefined
  const resolved = new URL(String(url), base)
  if (resolved.protocol === 'http:') resolved.protocol = 'ws:'
  else if (resolved.protocol === 'https:') resolved.protocol = 'wss:'
  return resolved.href
}

/**
 * A transceiver over a WebSocket. Buffers frames sent while the socket is connecting;
 * drops frames sent while it is closed. With a URL (or `reconnect: true`) it reopens
 * the socket with exponential backoff and full jitter, at once when the browser comes back
 * `online`, and dispatches `open` with `reconnected: true`; it gives up after
 * `giveUpAfterMs` of being down.
 */
export class WebSocketTransceiver extends Transceiver {
  socket: WebSocket
  /** The URL of the current socket (a `url` function may give another one for each reconnection). */
  url: string
  #buffer: string[] = []
  #closed = false
  readonly #reconnect: ReconnectPolicy | null
  readonly #protocols: string | string[] | undefined
  readonly #nextUrl: (() => string | URL | Promise<string | URL>) | null
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | null = null
  #connectTimer: ReturnType<typeof setTimeout> | null = null
  #opened = false
  /** When the last open socket was lost (Date.now()), null while connected. */
  #downSince: number | null = null
  /** The socket whose events count (null between a close and the next socket). */
  #live: WebSocket | null = null
  readonly #onOnline = (): void => { this.#hurry() }
  readonly #onOffline = (): void => { this.#drop('offline') }

  constructor (socket: WebSocket | string | URL, options: WebSocketOptions = {}) {
    super()
    const fromUrl = typeof socket === 'string' || socket instanceof URL
    this.url = fromUrl ? toWebSocketUrl(socket) : socket.url
    this.#protocols = options.protocols
    this.#nextUrl = options.url ?? null
    this.#reconnect = reconnectPolicy(options.reconnect ?? fromUrl)
    this.socket = fromUrl ? new WebSocket(this.url, this.#protocols) : socket
    this.#attach(this.socket)
    if (this.#reconnect !== null) this.#watchNetwork(true)
  }

  /**
   * The browser's `offline`: the socket is dead or stalled (a browser keeps it open, silent): drop it
   * and keep trying with backoff. `online`: try at once.
   */
  #watchNetwork (on: boolean): void {
    const target = globalThis as Partial<Pick<Window, 'addEventListener' | 'removeEventListener'>>
    const method = on ? target.addEventListener : target.removeEventListener
    if (typeof method !== 'function') return
    method.call(globalThis, 'online', this.#onOnline)
    method.call(globalThis, 'offline', this.#onOffline)
  }

  /** True while the socket is open. */
  get connected (): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }

  #attach (socket: WebSocket): void {
    this.#live = socket
    const onOpen = (): void => {
      if (socket !== this.#live || this.#closed) return
      this.#clearConnectTimer()
      const reconnected = this.#opened
      this.#opened = true
      this.#attempt = 0
      this.#downSince = null
      const buffered = this.#buffer
      this.#buffer = []
      for (const message of buffered) socket.send(message)
      this.dispatchEvent(new CustomEvent(INTERNAL.open, { detail: { reconnected } }))
    }
    if (socket.readyState === WebSocket.OPEN) queueMicrotask(onOpen)
    else socket.addEventListener('open', onOpen)
    socket.addEventListener('message', (event) => {
      if (socket === this.#live) this.#onMessage(event)
    })
    socket.addEventListener('close', (event) => {
      if (socket === this.#live) this.#onClose(event.code, event.reason)
    })
  }

  #onMessage (event: MessageEvent): void {
    const frame = parseFrame(String(event.data))
    if (isFrameError(frame)) {
      this.dispatchEvent(new CustomEvent(INTERNAL.frame, { detail: { type: null, data: null } }))
      this.dispatchEvent(new CustomEvent(INTERNAL.invalid, {
        detail: { message: 'Server sent an invalid signalling message', reason: 'invalid-frame', data: event.data }
      }))
      return
    }
    const { type, data } = frame
    this.dispatchEvent(new CustomEvent(INTERNAL.frame, { detail: { type, data } }))
    if (!type.startsWith(INTERNAL_PREFIX)) this.dispatchEvent(new CustomEvent(type, { detail: data }))
    if (!isProtocolType(type)) this.dispatchEvent(new CustomEvent(INTERNAL.message, { detail: { type, data } }))
  }

  #onClose (code: number, reason: string): void {
    this.#live = null
    this.#clearConnectTimer()
    this.#buffer = []
    const now = Date.now()
    this.#downSince ??= now
    const policy = this.#reconnect
    const delay = this.#closed || policy === null ? null : reconnectDelay(policy, this.#attempt, code, now - this.#downSince)
    this.#attempt++
    if (delay === null) this.#watchNetwork(false)
    this.dispatchEvent(new CustomEvent(INTERNAL.disconnect, {
      detail: { code, reason, reconnecting: delay !== null, delay, attempt: this.#attempt, resuming: false }
    }))
    if (delay !== null && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = null
        this.#open().catch(() => {})
      }, delay)
    }
  }

  /** Opens the next socket, at the URL the `url` function gives (its failure counts as a failed attempt). */
  async #open (): Promise<void> {
    if (this.#closed) return
    let url = this.url
    let failed = false
    if (this.#nextUrl !== null) {
      try {
        url = toWebSocketUrl(await this.#nextUrl())
      } catch {
        failed = true
      }
    }
    if (this.#closed) return
    if (failed) {
      this.#onClose(1006, 'url function failed')
      return
    }
    this.url = url
    const socket = this.socket = new WebSocket(url, this.#protocols)
    this.#attach(socket)
    // A connection attempt can hang (a lost SYN, a half-up network): give it up and try the next.
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null
      if (this.#live === socket && socket.readyState === WebSocket.CONNECTING) this.#drop('connect timeout', 1006)
    }, CONNECT_TIMEOUT)
  }

  #clearConnectTimer (): void {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer)
    this.#connectTimer = null
  }

  /** The browser is back online: a reconnection waiting for its delay starts now. */
  #hurry (): void {
    if (this.#closed || this.#timer === null) return
    clearTimeout(this.#timer)
    this.#timer = null
    this.#open().catch(() => {})
  }

  /** Sends a frame; returns false when the socket is closed and the frame was dropped. */
  override send (type: string, data: FrameData): boolean {
    const message = JSON.stringify({ type, data })
    const state = this.socket.readyState
    if (state === WebSocket.CONNECTING) {
      this.#buffer.push(message)
      return true
    }
    if (state === WebSocket.OPEN) {
      this.socket.send(message)
      return true
    }
    return false
  }

  /** Closes the socket for good (no reconnection). Idempotent. */
  override close (code = 1000, reason = ''): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#clearConnectTimer()
    this.#buffer = []
    this.#watchNetwork(false)
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(code, reason)
    }
  }

  /** Drops the current socket as if the network failed (reconnects if enabled). For tests and "retry now". */
  drop (): void {
    this.#drop('dropped by client')
  }

  /** Closes the socket and goes on at once as if it had closed with `code` (a close handshake over a dead network could take a minute). */
  #drop (reason: string, code = 4000): void {
    const socket = this.#live
    if (this.#closed || socket === null) return
    socket.close(4000, reason)
    this.#onClose(code, reason)
  }
}
