// Transports: what carries ssp-v2 frames. A Transceiver dispatches every frame it receives
// as `CustomEvent(type, { detail: data })` (rtcpool 3.x's contract), plus the INTERNAL
// connection-state events. WebSocketTransceiver owns the socket: buffering while it
// connects, reconnection with backoff. It knows nothing of pools or peers.

import { isFrameError, isProtocolType, parseFrame } from '../protocol'
import type { FrameData } from '../protocol'

export interface DisconnectDetail {
  code: number
  reason: string
  /** True when the transceiver will try again after `delay` milliseconds. */
  reconnecting: boolean
  delay: number | null
  attempt: number
}

export interface ReconnectOptions {
  /** First delay in ms (default 250). */
  minDelay?: number
  /** Largest delay in ms (default 10000). */
  maxDelay?: number
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number
}

export interface WebSocketOptions {
  /**
   * Reconnect with exponential backoff when the socket closes unexpectedly.
   * Default: true when given a URL, false when given a WebSocket (rtcpool behaviour).
   */
  reconnect?: boolean | ReconnectOptions
  /** WebSocket subprotocols. */
  protocols?: string | string[]
}

const DEFAULT_MIN_DELAY = 250
const DEFAULT_MAX_DELAY = 10_000
/** Close codes after which reconnecting is pointless: normal closure and policy (auth) refusal. */
const FINAL_CLOSE_CODES = new Set([1000, 1008])

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
  message: 'transceiver:message'
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
 * the socket with exponential backoff and dispatches `open` with `reconnected: true`.
 */
export class WebSocketTransceiver extends Transceiver {
  socket: WebSocket
  readonly url: string
  #buffer: string[] = []
  #closed = false
  #reconnect: Required<ReconnectOptions> | null
  #protocols: string | string[] | undefined
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | null = null
  #opened = false

  constructor (socket: WebSocket | string | URL, options: WebSocketOptions = {}) {
    super()
    const fromUrl = typeof socket === 'string' || socket instanceof URL
    this.url = fromUrl ? toWebSocketUrl(socket) : socket.url
    this.#protocols = options.protocols
    const reconnect = options.reconnect ?? fromUrl
    this.#reconnect = reconnect === false
      ? null
      : {
          minDelay: DEFAULT_MIN_DELAY,
          maxDelay: DEFAULT_MAX_DELAY,
          maxAttempts: Infinity,
          ...(reconnect === true ? {} : reconnect)
        }
    this.socket = fromUrl ? new WebSocket(this.url, this.#protocols) : socket
    this.#attach(this.socket)
  }

  /** True while the socket is open. */
  get connected (): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }

  #attach (socket: WebSocket): void {
    const onOpen = (): void => {
      const reconnected = this.#opened
      this.#opened = true
      this.#attempt = 0
      const buffered = this.#buffer
      this.#buffer = []
      for (const message of buffered) socket.send(message)
      this.dispatchEvent(new CustomEvent(INTERNAL.open, { detail: { reconnected } }))
    }
    if (socket.readyState === WebSocket.OPEN) queueMicrotask(onOpen)
    else socket.addEventListener('open', onOpen)
    socket.addEventListener('message', (event) => this.#onMessage(event))
    socket.addEventListener('close', (event) => {
      if (socket !== this.socket) return
      this.#onClose(event.code, event.reason)
    })
  }

  #onMessage (event: MessageEvent): void {
    const frame = parseFrame(String(event.data))
    if (isFrameError(frame)) {
      this.dispatchEvent(new CustomEvent(INTERNAL.invalid, {
        detail: { message: 'Server sent an invalid signalling message', reason: 'invalid-frame', data: event.data }
      }))
      return
    }
    const { type, data } = frame
    if (!type.startsWith(INTERNAL_PREFIX)) this.dispatchEvent(new CustomEvent(type, { detail: data }))
    if (!isProtocolType(type)) this.dispatchEvent(new CustomEvent(INTERNAL.message, { detail: { type, data } }))
  }

  #onClose (code: number, reason: string): void {
    this.#buffer = []
    const options = this.#reconnect
    let delay: number | null = null
    if (!this.#closed && options !== null && !FINAL_CLOSE_CODES.has(code) && this.#attempt < options.maxAttempts) {
      const base = Math.min(options.maxDelay, options.minDelay * 2 ** this.#attempt)
      delay = Math.round(base * (0.75 + Math.random() * 0.5))
    }
    this.#attempt++
    this.dispatchEvent(new CustomEvent(INTERNAL.disconnect, {
      detail: { code, reason, reconnecting: delay !== null, delay, attempt: this.#attempt }
    }))
    if (delay !== null && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = null
        if (this.#closed) return
        this.socket = new WebSocket(this.url, this.#protocols)
        this.#attach(this.socket)
      }, delay)
    }
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
    this.#buffer = []
    if (this.socket.readyState === WebSocket.CONNECTING || this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(code, reason)
    }
  }

  /** Drops the current socket as if the network failed (reconnects if enabled). For tests and "retry now". */
  drop (): void {
    this.socket.close(4000, 'dropped by client')
  }
}
