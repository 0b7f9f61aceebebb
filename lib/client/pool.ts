// Pool: one RTCPeerConnection per other member of a signalling pool, negotiated with
// the W3C "perfect negotiation" pattern. Public shape of rtcpool 3.x's Pool.

import { isObject, isProtocolType } from '../protocol'
import type { FrameData } from '../protocol'
import { ManagedConnection } from './connection'
import { PoolEvents, poolDataChannelEvent, poolTrackEvent } from './pool-events'
import type { Signalling } from './signalling'
import type { DisconnectDetail } from './transceiver'

/** How long a newcomer waits for a peer's first offer before offering itself (ms). */
const FIRST_OFFER_GRACE = 1500
/** How long the polite side leaves a failed connection to the impolite side's ICE restart (ms). */
const POLITE_RESTART_DELAY = 2000

interface PeerState {
  pc: RTCPeerConnection
  managed: ManagedConnection
  polite: boolean
  makingOffer: boolean
  ignoreOffer: boolean
  settingRemoteAnswer: boolean
  /** Candidates that arrived before any remote description. */
  pending: RTCIceCandidateInit[]
  /** Polite side: waiting for the peer's first offer, until this fires. */
  graceTimer: ReturnType<typeof setTimeout> | null
  graceOver: boolean
  /** Incoming sdp/candidate work, applied strictly in arrival order. */
  queue: Promise<void>
}

/**
 * A pool of WebRTC connections, one per other member of a signalling pool.
 * `new Pool(rtcConfig, new signalling.websocket(ws))`, then `pool.join(name)`.
 */
export class Pool {
  /** The signalling events a Pool listens to (rtcpool 3.x: `Pool.SIGNAL_EVENTS`). */
  static readonly SIGNAL_EVENTS: readonly string[] = Object.freeze(['join', 'request', 'describe', 'sdp', 'close', 'icecandidate', 'stop', 'peer'])
  /** 'join', 'peer', 'close', 'describe', 'stop', 'track', 'datachannel', 'error', ... */
  readonly events: PoolEvents = new PoolEvents()
  readonly #config: RTCConfiguration
  readonly #signals: Signalling
  readonly #peers = new Map<string, PeerState>()
  readonly #descriptions = new Map<string, unknown>()
  #id: string | null = null
  #name: string | null = null
  #requested: string | null = null
  #joining = false
  #closed = false

  constructor (rtcConfig: RTCConfiguration = {}, signaller: Signalling) {
    this.#config = rtcConfig
    this.#signals = signaller
    const on = (type: string, handler: (data: FrameData) => void): void => {
      signaller.addEventListener(type, (event: Event) => {
        const detail = (event as CustomEvent).detail
        if (!this.#closed) handler(isObject(detail) ? detail : {})
      })
    }
    on('join', (data) => this.#onJoined(data))
    on('peer', (data) => this.#onPeer(data))
    on('sdp', (data) => this.#onSdp(data))
    on('icecandidate', (data) => this.#onCandidate(data))
    on('close', (data) => this.#onClose(data))
    on('describe', (data) => this.#onDescribe(data))
    on('stop', () => this.close('stop'))
    on('error', (data) => this.#onError(data))
    on('message', (data) => this.events.emit('message', data as { type: string, data: FrameData }))
    on('disconnect', (data) => this.#onDisconnect(data as unknown as DisconnectDetail))
    on('open', (data) => { if (data.reconnected === true) this.#rejoin() })
  }

  /**
   * Asks the server to join `pool`. Answered by a `join` event, or an `error` event
   * (`join-denied`, `pool-full`, `no-such-pool`...). Throws if already joining or joined.
   */
  join (pool: string): void {
    if (this.#closed) throw new Error('Cannot join a pool: this Pool is closed.')
    if (this.#id !== null || this.#joining) throw new Error('Cannot join a pool: already joining or joined.')
    this.#joining = true
    this.#requested = pool
    this.#signals.send('rtc:join', { pool })
  }

  /**
   * Closes every connection and the signalling channel, then dispatches `type`
   * ('close' by default; 'stop' when the server stopped the pool) with detail null.
   * Idempotent.
   */
  close (type: 'close' | 'stop' = 'close'): void {
    if (this.#closed) return
    this.#closed = true
    for (const peer of this.#peers.values()) {
      if (peer.graceTimer !== null) clearTimeout(peer.graceTimer)
      peer.pc.close()
    }
    this.#peers.clear()
    this.#joining = false
    this.#signals.close()
    this.events.emit(type, null)
  }

  /** Leaves the pool: same as `close()`. */
  leave (): void {
    this.close()
  }

  /**
   * Sends an application event (any type not starting with `rtc:`) to the server,
   * e.g. `pool.send('describe', { name: 'Ada' })`. Returns false if the socket is closed.
   */
  send (type: string, data: FrameData = {}): boolean {
    if (typeof type !== 'string' || type === '' || isProtocolType(type)) {
      throw new TypeError('Application event types must be non-empty and not start with "rtc:"')
    }
    return this.#signals.send(type, data)
  }

  /** The ManagedConnection to peer `id`, or null. */
  getConnection (id: string): ManagedConnection | null {
    return this.#peers.get(id)?.managed ?? null
  }

  /** Our id in the pool, null until joined. */
  get id (): string | null {
    return this.#id
  }

  /** The name of the pool actually joined (the server may map the requested one), null until joined. */
  get name (): string | null {
    return this.#name
  }

  /** Whether `close()` was called or the server stopped the pool. */
  get closed (): boolean {
    return this.#closed
  }

  /** Our own description as the server reported it on join. */
  get description (): unknown {
    return this.#id === null ? null : this.#descriptions.get(this.#id) ?? null
  }

  /** Every ManagedConnection, in creation order. */
  get connections (): ManagedConnection[] {
    return [...this.#peers.values()].map((peer) => peer.managed)
  }

  /** The RTCPeerConnections (rtcpool internal name, kept for compatibility). */
  get _raw_connections (): RTCPeerConnection[] {
    return [...this.#peers.values()].map((peer) => peer.pc)
  }

  /** The number of connections. */
  get nconnections (): number {
    return this.#peers.size
  }

  /** The signalling channel. */
  get signalling (): Signalling {
    return this.#signals
  }

  #onJoined (data: FrameData): void {
    if (typeof data.client_id !== 'string') return
    const rejoin = this.#name !== null
    this.#id = data.client_id
    this.#joining = false
    this.#name = typeof data.pool === 'string' ? data.pool : this.#requested
    const descriptions = isObject(data.descriptions) ? data.descriptions : {}
    for (const [id, description] of Object.entries(descriptions)) this.#descriptions.set(id, description ?? null)
    const peers = Array.isArray(data.peers) ? data.peers.filter((id): id is string => typeof id === 'string') : []
    // We joined after them: we are the polite side toward every one of them.
    for (const id of peers) this.#createPeer(id, true)
    this.events.emit('join', { id: this.#id, pool: this.#name ?? '', peers, descriptions, rejoin })
  }

  #onPeer (data: FrameData): void {
    if (typeof data.id !== 'string' || data.id === this.#id) return
    if (data.description !== undefined && data.description !== null) this.#descriptions.set(data.id, data.description)
    this.#createPeer(data.id, false)
  }

  #onClose (data: FrameData): void {
    const id = typeof data.id === 'string' ? data.id : data.uid
    if (typeof id !== 'string') return
    const peer = this.#peers.get(id)
    if (peer === undefined) return // unknown id: ignored (rtcpool throws here)
    this.#removePeer(id, peer)
  }

  #onDescribe (data: FrameData): void {
    const id = typeof data.id === 'string' ? data.id : data.uid
    if (typeof id !== 'string') return
    const description = data.description ?? null
    if (id === this.#id) {
      this.#descriptions.set(id, description)
      return
    }
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    this.#descriptions.set(id, description)
    this.events.emit('describe', { connection: peer.managed, description })
  }

  #onError (data: FrameData): void {
    const reason = typeof data.reason === 'string' ? data.reason : 'unknown'
    const message = typeof data.message === 'string' ? data.message : reason
    if (this.#joining && JOIN_ERRORS.has(reason)) this.#joining = false
    this.events.emit('error', { ...data, reason, message })
  }

  #onDisconnect (detail: DisconnectDetail): void {
    // Our peers will see us leave (the server drops our id); drop them too, so a
    // rejoin starts clean with a new id and fresh connections.
    for (const [id, peer] of this.#peers) this.#removePeer(id, peer)
    this.#id = null
    this.#joining = false
    this.events.emit('disconnect', detail)
    if (!detail.reconnecting) this.close()
  }

  #rejoin (): void {
    if (this.#requested === null || this.#joining || this.#id !== null) return
    this.#joining = true
    this.#signals.send('rtc:join', { pool: this.#requested })
  }

  #removePeer (id: string, peer: PeerState): void {
    this.#peers.delete(id)
    if (peer.graceTimer !== null) clearTimeout(peer.graceTimer)
    peer.pc.close()
    this.events.emit('close', peer.managed)
    this.#descriptions.delete(id)
  }

  #createPeer (id: string, polite: boolean): void {
    const existing = this.#peers.get(id)
    if (existing !== undefined) this.#removePeer(id, existing)
    if (!this.#descriptions.has(id)) this.#descriptions.set(id, null)
    const pc = new RTCPeerConnection(this.#config)
    const managed = new ManagedConnection(pc, id, this.#descriptions, polite)
    const peer: PeerState = {
      pc,
      managed,
      polite,
      makingOffer: false,
      ignoreOffer: false,
      settingRemoteAnswer: false,
      pending: [],
      graceTimer: null,
      graceOver: false,
      queue: Promise.resolve()
    }
    this.#peers.set(id, peer)
    const alive = (): boolean => this.#peers.get(id) === peer

    pc.addEventListener('icecandidate', (event) => {
      if (!alive() || event.candidate === null) return
      this.#signals.send('rtc:candidate', { for: id, candidate: event.candidate.toJSON() })
    })
    // Offers go through the same queue as incoming descriptions, so setLocalDescription(offer)
    // and setRemoteDescription(offer) never overlap.
    const offer = async (): Promise<void> => {
      // Not stable: an exchange is under way; the browser fires negotiationneeded again
      // when it is back to stable if there is still something to negotiate.
      if (!alive() || pc.signalingState !== 'stable') return
      try {
        peer.makingOffer = true
        await pc.setLocalDescription()
        if (alive() && pc.localDescription !== null) {
          this.#signals.send('rtc:sdp', { to: id, description: pc.localDescription.toJSON() })
        }
      } catch (err) {
        if (alive()) this.#failed(id, 'negotiation-failed', err)
      } finally {
        peer.makingOffer = false
      }
    }
    // The first exchange is offered by the member already in the pool (the impolite side):
    // Chromium sometimes never gathers ICE candidates for an answer made right after its own
    // first offer was rolled back, leaving the pair in 'new' for good. So the polite newcomer
    // waits for that offer (up to FIRST_OFFER_GRACE, in case the peer is a client that only
    // offers when it has something to send) instead of racing it.
    pc.addEventListener('negotiationneeded', () => {
      if (peer.polite && pc.remoteDescription === null && !peer.graceOver) {
        if (peer.graceTimer === null) {
          peer.graceTimer = setTimeout(() => {
            peer.graceOver = true
            if (pc.remoteDescription === null) this.#enqueue(peer, offer)
          }, FIRST_OFFER_GRACE)
        }
        return
      }
      this.#enqueue(peer, offer)
    })
    // ICE restart on failure: the impolite side at once, the polite side only if the
    // connection is still failed a moment later (so both do not offer at the same time).
    pc.addEventListener('iceconnectionstatechange', () => {
      if (!alive() || pc.iceConnectionState !== 'failed') return
      if (!polite) {
        pc.restartIce()
        return
      }
      setTimeout(() => {
        if (alive() && pc.iceConnectionState === 'failed') pc.restartIce()
      }, POLITE_RESTART_DELAY)
    })
    pc.addEventListener('connectionstatechange', () => {
      if (alive()) this.events.emit('statechange', { connection: managed, state: pc.connectionState })
    })
    pc.addEventListener('track', (event) => {
      if (!alive()) return
      this.events.dispatchEvent(poolTrackEvent(event, managed))
    })
    pc.addEventListener('datachannel', (event) => {
      if (!alive()) return
      this.events.dispatchEvent(poolDataChannelEvent(event, managed))
    })

    // Dispatched before anything else happens, so listeners can add media right away.
    this.events.emit('peer', { connection: managed })
    // The impolite side opens the first exchange even with nothing to send yet, so that the
    // polite side never has to (see negotiationneeded above). Whatever the 'peer' listeners
    // added is in this offer.
    if (!polite) this.#enqueue(peer, offer)
  }

  #enqueue (peer: PeerState, work: () => Promise<void>): void {
    peer.queue = peer.queue.then(work, work)
  }

  #onSdp (data: FrameData): void {
    const id = data.peer
    const description = data.description
    if (typeof id !== 'string' || !isObject(description)) return
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    const desc = description as unknown as RTCSessionDescriptionInit
    this.#enqueue(peer, async () => {
      if (this.#peers.get(id) !== peer) return
      const { pc } = peer
      try {
        // W3C perfect negotiation.
        const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingRemoteAnswer)
        const collision = desc.type === 'offer' && !readyForOffer
        peer.ignoreOffer = !peer.polite && collision
        if (peer.ignoreOffer) return
        peer.settingRemoteAnswer = desc.type === 'answer'
        await pc.setRemoteDescription(desc)
        peer.settingRemoteAnswer = false
        const pending = peer.pending
        peer.pending = []
        for (const candidate of pending) await this.#addCandidate(peer, candidate)
        if (desc.type === 'offer') {
          await pc.setLocalDescription()
          if (this.#peers.get(id) === peer && pc.localDescription !== null) {
            this.#signals.send('rtc:sdp', { to: id, description: pc.localDescription.toJSON() })
          }
        }
      } catch (err) {
        peer.settingRemoteAnswer = false
        if (this.#peers.get(id) === peer) this.#failed(id, 'negotiation-failed', err)
      }
    })
  }

  #onCandidate (data: FrameData): void {
    const id = data.from
    const candidate = data.candidate
    if (typeof id !== 'string' || !isObject(candidate)) return // null: end of candidates, nothing to do
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    this.#enqueue(peer, async () => {
      if (this.#peers.get(id) !== peer) return
      const init = candidate as RTCIceCandidateInit
      if (peer.pc.remoteDescription === null) {
        // Before any remote description: keep it for when one is set (rtcpool throws here).
        // Kept even while ignoring a colliding offer: the peer may reuse these candidates
        // (same ICE credentials) in the answer it sends after rolling back.
        peer.pending.push(init)
        return
      }
      await this.#addCandidate(peer, init)
    })
  }

  async #addCandidate (peer: PeerState, candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await peer.pc.addIceCandidate(candidate)
    } catch (err) {
      // Candidates of an offer we ignored, or of a generation already replaced by an
      // ICE restart, are expected to fail; anything else is worth reporting.
      if (!peer.ignoreOffer && peer.pc.signalingState !== 'closed' && (err as Error)?.name !== 'OperationError') {
        this.#failed(peer.managed.id, 'candidate-failed', err)
      }
    }
  }

  #failed (id: string, reason: string, err: unknown): void {
    if (this.#closed) return
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
    this.events.emit('error', { reason, message, peer: id })
  }

  /**
   * Sends a stream to every peer, now and later (the seed's `pool.add_media(media)`).
   * Accepts a ManagedStream/RTCStream not yet attached to a pool, or a MediaStream.
   */
  add_media (media: MediaLike | MediaStream): MediaLike {
    if (isMediaStream(media)) {
      const factory = Pool.streamFactory
      if (factory === null) throw new Error('add_media(MediaStream) needs the media module')
      return factory(media, this)
    }
    media.attach(this)
    return media
  }

  /** `add_media` in camelCase. */
  addMedia (media: MediaLike | MediaStream): MediaLike {
    return this.add_media(media)
  }

  /** @internal set by media.ts to avoid an import cycle. */
  static streamFactory: ((stream: MediaStream, pool: Pool) => MediaLike) | null = null
}

/** What `add_media` accepts: something with `attach(pool)` (a ManagedStream), or a MediaStream. */
export interface MediaLike {
  attach (pool: Pool): void
}

function isMediaStream (value: unknown): value is MediaStream {
  return typeof MediaStream !== 'undefined' && value instanceof MediaStream
}

const JOIN_ERRORS = new Set(['missing-pool', 'no-such-pool', 'join-denied', 'pool-full', 'already-joined'])
