// ManagedConnection: the public face of one peer (rtcpool 3.x shape).

import type { Description } from '../types'

/** Events a ManagedConnection lets you listen to on its RTCPeerConnection. */
export const CONNECTION_EVENTS = Object.freeze(['datachannel', 'track', 'connectionstatechange'] as const)
export type ConnectionEventType = typeof CONNECTION_EVENTS[number]

/**
 * One peer in the pool. Negotiation (offers, answers, ICE) is handled for you;
 * this exposes what an application needs: the peer's id and description, media and
 * data channels.
 */
export class ManagedConnection {
  /** Event types `addEventListener` accepts (rtcpool: `ManagedConnection.EVENTS`). */
  static readonly EVENTS: readonly string[] = CONNECTION_EVENTS
  readonly #pc: RTCPeerConnection
  readonly #id: string
  readonly #descriptions: ReadonlyMap<string, Description>
  readonly #polite: boolean

  /** Made by the Pool for each peer; there is no need to construct one yourself. */
  constructor (pc: RTCPeerConnection, id: string, descriptions: ReadonlyMap<string, Description>, polite = false) {
    this.#pc = pc
    this.#id = id
    this.#descriptions = descriptions
    this.#polite = polite
  }

  /** The peer's id, assigned by the server. */
  get id (): string {
    return this.#id
  }

  /** The peer's description (set by server code, e.g. `{ name }`), or null. Do not mutate it. */
  get description (): Description {
    return this.#descriptions.get(this.#id) ?? null
  }

  /** The RTCPeerConnection's `connectionState` (`new`, `connecting`, `connected`, `disconnected`, `failed`, `closed`). */
  get state (): RTCPeerConnectionState {
    return this.#pc.connectionState
  }

  /** Whether this side yields on an offer collision (true when we joined after the peer). */
  get polite (): boolean {
    return this.#polite
  }

  /** The underlying RTCPeerConnection, for what this class does not cover (stats, transceivers). */
  get peerConnection (): RTCPeerConnection {
    return this.#pc
  }

  addEventListener<K extends ConnectionEventType> (type: K, listener: (event: RTCPeerConnectionEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void
  addEventListener (type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void
  addEventListener (type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void {
    if (!ManagedConnection.EVENTS.includes(type)) {
      throw new Error(`Event type '${type}' is not handled by ManagedConnection.`)
    }
    this.#pc.addEventListener(type, listener, options)
  }

  removeEventListener (type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void {
    this.#pc.removeEventListener(type, listener, options)
  }

  /**
   * Creates a data channel. With `raw` false (the default) returns a promise of the
   * channel once it is open (rejected if it closes first); with `raw` true, the channel at once.
   */
  dataChannel (label: string, options?: RTCDataChannelInit, raw?: false): Promise<RTCDataChannel>
  dataChannel (label: string, options: RTCDataChannelInit | undefined, raw: true): RTCDataChannel
  dataChannel (label: string, options: RTCDataChannelInit = {}, raw = false): Promise<RTCDataChannel> | RTCDataChannel {
    const channel = this.#pc.createDataChannel(label, options)
    if (raw) return channel
    return new Promise((resolve, reject) => {
      if (channel.readyState === 'open') return resolve(channel)
      channel.addEventListener('open', () => resolve(channel), { once: true })
      channel.addEventListener('close', () => reject(new Error(`Data channel '${label}' closed before it opened`)), { once: true })
    })
  }

  /** `RTCPeerConnection.addTrack`: sends a track to this peer (renegotiates). */
  addTrack (track: MediaStreamTrack, ...streams: MediaStream[]): RTCRtpSender {
    return this.#pc.addTrack(track, ...streams)
  }

  /** `RTCPeerConnection.removeTrack`: stops sending on `sender` (renegotiates). */
  removeTrack (sender: RTCRtpSender): void {
    if (this.#pc.signalingState === 'closed') return
    this.#pc.removeTrack(sender)
  }

  /** `RTCPeerConnection.getStats`. */
  getStats (selector?: MediaStreamTrack | null): Promise<RTCStatsReport> {
    return this.#pc.getStats(selector)
  }
}
