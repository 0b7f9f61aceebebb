// The signalling channel: ssp-v2 frames in, the events a Pool listens to out (rtcpool 3.x
// names: `signalling`, `signalling.websocket`), so rtcpool pages keep working. It owns the
// protocol state of one connection to the server; the socket itself is the Transceiver's.

import type { FrameData } from '../protocol'
import { TypedEventTarget } from './events'
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
  open: CustomEvent<{ reconnected: boolean }>
  disconnect: CustomEvent<DisconnectDetail>
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
  'rtc:error': 'error'
})

const SIGNALLING_EVENTS: SignallingEventType[] = ['join', 'peer', 'sdp', 'icecandidate', 'close', 'describe', 'stop', 'ice', 'error', 'message', 'open', 'disconnect']

/**
 * A signalling channel: translates ssp-v2 frames into the events a Pool listens to
 * (`join`, `peer`, `sdp`, `icecandidate`, `close`, `describe`, `stop`, `ice`, `error`,
 * `message` for application events) and sends frames.
 */
export class Signalling extends TypedEventTarget<SignallingEventMap> {
  /** `new signalling.websocket(ws | url)`: the WebSocket channel (rtcpool 3.x name). */
  static websocket: typeof WebSocketSignalling
  readonly transceiver: Transceiver

  constructor (transceiver: Transceiver) {
    super(SIGNALLING_EVENTS)
    this.transceiver = transceiver
    const listen = (type: string, handler: (detail: unknown) => void): void => {
      transceiver.addEventListener(type, (event) => handler((event as CustomEvent).detail))
    }
    // Frames from the server: rtc: ones, and application events.
    for (const [type, name] of Object.entries(SIGNAL_EVENTS)) listen(type, (detail) => this.#receive(name, detail))
    listen(INTERNAL.message, (detail) => this.#receive('message', detail))
    // The state of the connection, and frames that could not be read.
    listen(INTERNAL.open, (detail) => this.#dispatch('open', detail))
    listen(INTERNAL.disconnect, (detail) => this.#dispatch('disconnect', detail))
    listen(INTERNAL.invalid, (detail) => this.#dispatch('error', detail))
  }

  /** Every frame the server sends (rtc: or application) passes here once, in the order received. */
  #receive (name: SignallingEventType, detail: unknown): void {
    this.#dispatch(name, detail)
  }

  #dispatch (name: SignallingEventType, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail }))
  }

  /** Sends a frame; false when the transport dropped it (the socket is closed). */
  send (type: string, data: FrameData): boolean {
    return this.transceiver.send(type, data) !== false
  }

  /** Closes the transport for good. */
  close (): void {
    this.transceiver.close()
  }

  /** The ws(s) URL of a WebSocket channel, or null for other transports. */
  get url (): string | null {
    return this.transceiver instanceof WebSocketTransceiver ? this.transceiver.url : null
  }
}

/** The raw WebSocket signalling channel: `new signalling.websocket(new WebSocket(url))` or `(url)`. */
export class WebSocketSignalling extends Signalling {
  constructor (socket: WebSocket | string | URL, options: WebSocketOptions = {}) {
    super(new WebSocketTransceiver(socket, options))
  }

  /** The underlying WebSocket (replaced on each reconnection). */
  get socket (): WebSocket {
    return (this.transceiver as WebSocketTransceiver).socket
  }
}

Signalling.websocket = WebSocketSignalling
