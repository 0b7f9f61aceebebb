// The signalling channel: ssp-v2 frames in, the events a Pool listens to out (rtcpool 3.x
// names: `signalling`, `signalling.websocket`), so rtcpool pages keep working. It owns the
// protocol state of the connection to the server (across reconnections: the resume token and frame
// count, resume.ts); the socket itself is the Transceiver's.

import { isObject } from '../protocol'
import type { FrameData } from '../protocol'
import { TypedEventTarget } from './events'
import { MAX_HELD_FRAMES, Resumption } from './resume'
import { INTERNAL, WebSocketTransceiver } from './transceiver'
import type { DisconnectDetail, Transceiver, WebSocketOptions } from './transceiver'

/** The detail of an `rtc:error` frame. */
export interface SignalError {
  message: string
  /** A stable code, e.g. `join-denied`, `pool-full`, `unknown-peer` (see docs/protocol.md). */
  reason: string
  [key: string]: unknown
}

/** Events of the signalling channel: one per ssp-v2 message, plus connection state. */
export interface SignallingEventMap {
  join: CustomEvent<FrameData>
  peer: CustomEvent<FrameData>
  sdp: CustomEvent<FrameData>
  icecandidate: CustomEvent<FrameData>
  close: CustomEvent<FrameData>
  describe: CustomEvent<FrameData>
  stop: CustomEvent<FrameData>
  request: CustomEvent<FrameData>
  /** `rtc:ice`: fresh ICE servers from the server (docs/protocol.md, "ICE servers from the server"). */
  ice: CustomEvent<FrameData>
  /** `rtc:error` from the server, or a frame the client could not read. */
  error: CustomEvent<SignalError>
  /** An application event (a frame whose type does not start with `rtc:`). */
  message: CustomEvent<{ type: string, data: FrameData }>
  /** `rtc:resumed`: the session resumed on a new socket (`{ client_id, pool, token }`); the missed frames follow. */
  resumed: CustomEvent<FrameData>
  /** The socket is open; `resuming` when `rtc:resume` was sent on it (the answer is `resumed` or an `error`). */
  open: CustomEvent<{ reconnected: boolean, resuming: boolean }>
  /** The socket closed; `resuming` when the session will be resumed on the next one (peers kept). */
  disconnect: CustomEvent<DisconnectDetail>
}

export interface SignallingOptions {
  /**
   * Ask the server to keep our place through a dropped socket (`resume: true` in rtc:join) and
   * resume the session on the next socket. Useful only with a transport that reconnects.
   * Default false (WebSocketSignalling: true when it reconnects).
   */
  resume?: boolean
}

type SignallingEventType = keyof SignallingEventMap

/** ssp-v2 message types → signalling event names (the names rtcpool 3.x uses). */
export const SIGNAL_EVENTS: Readonly<Record<string, SignallingEventType>> = Object.freeze({
  'rtc:joined': 'join',
  'rtc:describe': 'describe',
  'rtc:peer': 'peer',
  'rtc:sdp': 'sdp',
  'rtc:close': 'close',
  'rtc:candidate': 'icecandidate',
  'rtc:stop': 'stop',
  'rtc:ice': 'ice',
  'rtc:error': 'error',
  'rtc:resumed': 'resumed'
})

const SIGNALLING_EVENTS: SignallingEventType[] = ['join', 'peer', 'sdp', 'icecandidate', 'close', 'describe', 'stop', 'ice', 'error', 'message', 'open', 'disconnect', 'resumed']

/**
 * A signalling channel: translates ssp-v2 frames into the events a Pool listens to
 * (`join`, `peer`, `sdp`, `icecandidate`, `close`, `describe`, `stop`, `ice`, `error`,
 * `message` for application events) and sends frames.
 */
export class Signalling extends TypedEventTarget<SignallingEventMap> {
  /** `new signalling.websocket(ws | url)`: the WebSocket channel (rtcpool 3.x name). */
  static websocket: typeof WebSocketSignalling
  readonly transceiver: Transceiver
  /** Whether rtc:join asks the server to let this session resume. */
  readonly resume: boolean
  readonly #session = new Resumption()

  constructor (transceiver: Transceiver, options: SignallingOptions = {}) {
    super(SIGNALLING_EVENTS)
    this.transceiver = transceiver
    this.resume = options.resume === true
    const listen = (type: string, handler: (detail: unknown) => void): void => {
      transceiver.addEventListener(type, (event) => handler((event as CustomEvent).detail))
    }
    // Every frame, before its own event: the count a resume gives the server.
    listen(INTERNAL.frame, (detail) => {
      if (isObject(detail)) this.#session.receive(typeof detail.type === 'string' ? detail.type : null, detail.data)
    })
    // Frames from the server: rtc: ones, and application events.
    for (const [type, name] of Object.entries(SIGNAL_EVENTS)) listen(type, (detail) => this.#receive(name, detail))
    listen(INTERNAL.message, (detail) => this.#receive('message', detail))
    // The state of the connection, and frames that could not be read.
    listen(INTERNAL.open, (detail) => this.#onOpen(detail as { reconnected: boolean }))
    listen(INTERNAL.disconnect, (detail) => this.#onDisconnect(detail as DisconnectDetail))
    listen(INTERNAL.invalid, (detail) => this.#dispatch('error', detail))
  }

  /** Every frame the server sends (rtc: or application) passes here once, in the order received. */
  #receive (name: SignallingEventType, detail: unknown): void {
    if (name === 'resumed') {
      // Before the page hears of it: what it sent while we were away goes out first, in order.
      for (const { type, data } of this.#session.release()) this.transceiver.send(type, data)
    } else if (name === 'error' && this.#session.asked) {
      // The answer to rtc:resume is an error (resume-failed, or join-denied by the join hook): the session is over.
      this.#session.reset()
    }
    this.#dispatch(name, detail)
  }

  #onOpen ({ reconnected }: { reconnected: boolean }): void {
    const resume = reconnected ? this.#session.resumeFrame() : null
    if (resume !== null) this.transceiver.send('rtc:resume', resume)
    this.#dispatch('open', { reconnected, resuming: resume !== null })
  }

  #onDisconnect (detail: DisconnectDetail): void {
    const resuming = this.#session.suspend(this.resume && detail.reconnecting)
    this.#dispatch('disconnect', { ...detail, resuming })
  }

  #dispatch (name: SignallingEventType, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail }))
  }

  /**
   * Sends a frame; false when the transport dropped it (the socket is closed). While the session
   * is suspended (a dropped socket, to be resumed), frames are held and sent after `rtc:resumed`.
   */
  send (type: string, data: FrameData): boolean {
    if (this.#session.holding) {
      if (this.#session.hold(type, data)) return true
      // Too many frames sent while away to keep the session: it is given up now (the pool drops its
      // peers and joins afresh when the socket is back), as after resume-failed. This frame is dropped.
      this.#session.reset()
      this.#dispatch('error', { reason: 'resume-failed', message: `Over ${MAX_HELD_FRAMES} frames sent while disconnected: the session cannot resume`, local: true })
      return false
    }
    return this.transceiver.send(type, data) !== false
  }

  /** Frames received since `rtc:joined` (what a resume tells the server). */
  get received (): number {
    return this.#session.received
  }

  /** Closes the transport for good. */
  close (): void {
    this.#session.reset()
    this.transceiver.close()
  }

  /** The ws(s) URL of a WebSocket channel, or null for other transports. */
  get url (): string | null {
    return this.transceiver instanceof WebSocketTransceiver ? this.transceiver.url : null
  }
}

/** The raw WebSocket signalling channel: `new signalling.websocket(new WebSocket(url))` or `(url)`. */
export class WebSocketSignalling extends Signalling {
  /** `resume` defaults to true when the channel reconnects (given a URL, or `reconnect` set). */
  constructor (socket: WebSocket | string | URL, options: WebSocketOptions & SignallingOptions = {}) {
    const reconnects = (options.reconnect ?? (typeof socket === 'string' || socket instanceof URL)) !== false
    super(new WebSocketTransceiver(socket, options), { resume: options.resume ?? reconnects })
  }

  /** The underlying WebSocket (replaced on each reconnection). */
  get socket (): WebSocket {
    return (this.transceiver as WebSocketTransceiver).socket
  }
}

Signalling.websocket = WebSocketSignalling
