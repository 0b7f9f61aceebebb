// Pool: membership of one signalling pool, and one Peer (an RTCPeerConnection and its
// negotiation, peer.ts) per other member. The Pool routes each member's frames to its Peer
// and dispatches the events. Public shape of rtcpool 3.x's Pool.

import { isObject, isProtocolType } from '../protocol'
import type { FrameData, Reason } from '../protocol'
import type { Description, IceServer, IceServersResult } from '../types'
import type { ManagedConnection } from './connection'
import { ManagedStream } from './media'
import { Peer } from './peer'
import type { PeerHost } from './peer'
import { PoolEvents, poolDataChannelEvent, poolTrackEvent } from './pool-events'
import { RelayRetry } from './relay-retry'
import type { RelayType } from './relay-retry'
import type { Signalling } from './signalling'
import type { DisconnectDetail } from './transceiver'

/** The `rtc:error` reasons that answer an `rtc:join`: the join failed. */
export const JOIN_REASONS: ReadonlySet<string> = new Set<Reason>(['missing-pool', 'no-such-pool', 'join-denied', 'pool-full', 'already-joined'])

/** What `add_media` accepts: something with `attach(pool)` (a ManagedStream), or a MediaStream. */
export interface MediaLike {
  attach (pool: Pool): void
}

/**
 * A pool of WebRTC connections, one per other member of a signalling pool.
 * `new Pool(rtcConfig, new signalling.websocket(ws))`, then `pool.join(name)`.
 */
export class Pool {
  /** The signalling events a Pool listens to (rtcpool 3.x: `Pool.SIGNAL_EVENTS`). */
  static readonly SIGNAL_EVENTS: readonly string[] = Object.freeze(['join', 'request', 'describe', 'sdp', 'close', 'icecandidate', 'stop', 'peer', 'ice'])
  /** 'join', 'peer', 'close', 'describe', 'stop', 'track', 'datachannel', 'error', ... */
  readonly events: PoolEvents = new PoolEvents()
  /** The page's configuration of every new peer connection. */
  readonly #config: RTCConfiguration
  /** The page gave its own `iceServers`: they win over the server's. */
  readonly #ownIceServers: boolean
  /** The newest ICE servers from the server, or null. */
  #ice: IceServersResult | null = null
  readonly #signals: Signalling
  readonly #peers = new Map<string, Peer>()
  // Descriptions come from the server, which only server code writes: trusted to be of the declared type.
  readonly #descriptions = new Map<string, Description>()
  #id: string | null = null
  #name: string | null = null
  #requested: string | null = null
  #joining = false
  #closed = false
  /** The socket dropped and the session is being resumed: peers kept, waiting for rtc:resumed. */
  #resuming = false
  /** Our id before a reconnection that could not resume: the next join is a rejoin (`rejoined`). */
  #previous: { id: string | null, reason: string } | null = null
  readonly #retry: RelayRetry

  constructor (rtcConfig: RTCConfiguration = {}, signaller: Signalling) {
    this.#config = rtcConfig
    this.#ownIceServers = rtcConfig.iceServers !== undefined
    this.#signals = signaller
    this.#retry = new RelayRetry({
      send: (type, data) => { this.#signals.send(type, data) },
      current: (to, data) => {
        const sdp = this.#peers.get(to)?.pc.localDescription?.sdp
        return sdp !== undefined && isObject(data.description) && data.description.sdp === sdp
      },
      gaveUp: (type, to, tries) => {
        if (!this.#closed) this.events.emit('error', { reason: 'peer-busy', message: `The server refused to relay ${type} to ${to}: its queue stayed full through ${tries} retries`, type, to, peer: to })
      }
    })
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
    on('ice', (data) => this.#onIce(data, true))
    on('error', (data) => this.#onError(data))
    on('message', (data) => this.events.emit('message', data as { type: string, data: FrameData }))
    on('disconnect', (data) => this.#onDisconnect(data as unknown as DisconnectDetail))
    on('open', (data) => { if (data.reconnected === true && data.resuming !== true) this.#rejoin() })
    on('resumed', (data) => this.#onResumed(data))
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
    this.#sendJoin(pool)
  }

  /** Sends rtc:join; false when the socket is closed (the join is sent when it opens again). */
  #sendJoin (pool: string): boolean {
    return this.#signals.send('rtc:join', this.#signals.resume ? { pool, resume: true } : { pool })
  }

  /**
   * Closes every connection and the signalling channel, then dispatches `type`
   * ('close' by default; 'stop' when the server stopped the pool) with detail null.
   * Idempotent.
   */
  close (type: 'close' | 'stop' = 'close'): void {
    if (this.#closed) return
    this.#closed = true
    for (const peer of this.#peers.values()) peer.close()
    this.#peers.clear()
    this.#retry.clear()
    this.#joining = false
    this.#resuming = false
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

  /**
   * Sends a stream to every peer, now and later (the seed's `pool.add_media(media)`).
   * Accepts a ManagedStream/RTCStream not yet attached to a pool, or a MediaStream.
   */
  add_media (media: MediaLike | MediaStream): MediaLike {
    if (isMediaStream(media)) return new ManagedStream(media, this)
    media.attach(this)
    return media
  }

  /** `add_media` in camelCase. */
  addMedia (media: MediaLike | MediaStream): MediaLike {
    return this.add_media(media)
  }

  /** The ManagedConnection to peer `id`, or null. */
  getConnection (id: string): ManagedConnection | null {
    return this.#peers.get(id)?.connection ?? null
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

  /**
   * The newest ICE servers from the server (`{ servers, expiresAt }`, expiresAt in ms since the
   * epoch or null), or null when it sends none. Used for every new connection unless the page
   * gave its own `iceServers`.
   */
  get ice (): IceServersResult | null {
    return this.#ice
  }

  /** The configuration a new peer connection gets: the page's, with the server's ICE servers unless the page gave its own. */
  get rtcConfig (): RTCConfiguration {
    if (this.#ownIceServers || this.#ice === null) return { ...this.#config }
    return { ...this.#config, iceServers: this.#ice.servers.map(copyServer) }
  }

  /** Our own description as the server reported it on join. */
  get description (): Description {
    return this.#id === null ? null : this.#descriptions.get(this.#id) ?? null
  }

  /** Every ManagedConnection, in creation order. */
  get connections (): ManagedConnection[] {
    return [...this.#peers.values()].map((peer) => peer.connection)
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

  // Membership: frames about who is in the pool.

  #onJoined (data: FrameData): void {
    if (typeof data.client_id !== 'string') return
    const rejoin = this.#name !== null
    this.#id = data.client_id
    this.#joining = false
    this.#name = typeof data.pool === 'string' ? data.pool : this.#requested
    const descriptions = (isObject(data.descriptions) ? data.descriptions : {}) as Record<string, Description>
    for (const [id, description] of Object.entries(descriptions)) this.#descriptions.set(id, description ?? null)
    // Before the peers: their connections are made with these servers.
    if (data.ice !== undefined) this.#onIce(data.ice, false)
    const peers = Array.isArray(data.peers) ? data.peers.filter((id): id is string => typeof id === 'string') : []
    // We joined after them: we are the polite side toward every one of them.
    for (const id of peers) this.#addPeer(id, true)
    this.events.emit('join', { id: this.#id, pool: this.#name ?? '', peers, descriptions, rejoin })
    const previous = this.#previous
    this.#previous = null
    if (previous !== null) this.events.emit('rejoined', { id: this.#id, pool: this.#name ?? '', peers, previous: previous.id, reason: previous.reason })
  }

  #onPeer (data: FrameData): void {
    if (typeof data.id !== 'string' || data.id === this.#id) return
    if (data.description !== undefined && data.description !== null) this.#descriptions.set(data.id, data.description as Description)
    this.#addPeer(data.id, false)
  }

  #onClose (data: FrameData): void {
    const peer = this.#peerNamed(memberId(data))
    if (peer !== undefined) this.#removePeer(peer) // unknown id: ignored (rtcpool throws here)
  }

  #onDescribe (data: FrameData): void {
    const id = memberId(data)
    if (typeof id !== 'string') return
    const description = (data.description ?? null) as Description
    if (id === this.#id) {
      this.#descriptions.set(id, description)
      return
    }
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    this.#descriptions.set(id, description)
    this.events.emit('describe', { connection: peer.connection, description })
  }

  /** ICE servers from the server: kept for new connections, and a refresh applied to the open ones. */
  #onIce (data: unknown, refreshed: boolean): void {
    const ice = iceServers(data)
    if (ice === null) return
    this.#ice = ice
    const applied = !this.#ownIceServers
    if (applied && refreshed) {
      const config = this.rtcConfig
      for (const peer of this.#peers.values()) peer.setConfiguration(config)
    }
    this.events.emit('ice', { servers: ice.servers.map(copyServer), expiresAt: ice.expiresAt, refreshed, applied })
  }

  #onError (data: FrameData): void {
    const reason = typeof data.reason === 'string' ? data.reason : 'unknown'
    const message = typeof data.message === 'string' ? data.message : reason
    if (this.#resuming) {
      // The answer to rtc:resume. join-denied: the join hook refuses us now, the server let us go.
      this.#resuming = false
      if (JOIN_REASONS.has(reason)) {
        this.events.emit('error', { ...data, reason, message })
        this.close()
      } else {
        this.#restart(reason)
      }
      return
    }
    if (reason === 'peer-busy' && isRelayType(data.type) && typeof data.to === 'string') {
      // Sent again after a short backoff; an error event only if the peer stays busy.
      if (this.#peers.has(data.to)) this.#retry.refused(data.type, data.to)
      return
    }
    if (this.#joining && JOIN_REASONS.has(reason)) this.#joining = false
    this.events.emit('error', { ...data, reason, message })
  }

  #onDisconnect (detail: DisconnectDetail): void {
    if (detail.resuming) {
      // Our place is kept: every peer connection stays as it is, and the media keeps flowing.
      this.#resuming = true
      this.events.emit('disconnect', detail)
      this.events.emit('reconnecting', { attempt: detail.attempt, delay: detail.delay ?? 0, resuming: true })
      return
    }
    this.#resuming = false
    // Our peers will see us leave (the server drops our id); drop them too, so a
    // rejoin starts clean with a new id and fresh connections.
    this.#forget('disconnected')
    this.events.emit('disconnect', detail)
    if (!detail.reconnecting) {
      this.close()
      return
    }
    this.events.emit('reconnecting', { attempt: detail.attempt, delay: detail.delay ?? 0, resuming: false })
  }

  #onResumed (data: FrameData): void {
    if (!this.#resuming) return
    this.#resuming = false
    if (typeof data.client_id === 'string') this.#id = data.client_id
    if (typeof data.pool === 'string') this.#name = data.pool
    this.events.emit('resumed', { id: this.#id ?? '', pool: this.#name ?? '', received: this.#signals.received })
  }

  /** The session could not be resumed: drop the peers (they see our old id leave) and join afresh. */
  #restart (reason: string): void {
    this.#forget(reason)
    this.#rejoin()
  }

  /** Drops every peer and our id (a rejoin follows, or the pool closes). */
  #forget (reason: string): void {
    if (this.#id !== null) this.#previous = { id: this.#id, reason }
    for (const peer of this.#peers.values()) this.#removePeer(peer)
    this.#retry.clear()
    this.#id = null
    this.#joining = false
  }

  #rejoin (): void {
    if (this.#requested === null || this.#joining || this.#id !== null) return
    this.#joining = this.#sendJoin(this.#requested)
  }

  // Negotiation: frames for one peer go to its Peer.

  #onSdp (data: FrameData): void {
    const peer = this.#peerNamed(data.peer)
    if (peer !== undefined && isObject(data.description)) peer.receiveDescription(data.description as unknown as RTCSessionDescriptionInit)
  }

  #onCandidate (data: FrameData): void {
    const peer = this.#peerNamed(data.from)
    // A null candidate (end of gathering) needs nothing done.
    if (peer !== undefined && isObject(data.candidate)) peer.receiveCandidate(data.candidate as RTCIceCandidateInit)
  }

  #peerNamed (id: unknown): Peer | undefined {
    return typeof id === 'string' ? this.#peers.get(id) : undefined
  }

  #addPeer (id: string, polite: boolean): void {
    const existing = this.#peers.get(id)
    if (existing !== undefined) this.#removePeer(existing)
    if (!this.#descriptions.has(id)) this.#descriptions.set(id, null)
    const peer = new Peer({ id, polite, config: this.rtcConfig, descriptions: this.#descriptions }, this.#host)
    this.#peers.set(id, peer)
    // Dispatched before negotiation starts, so listeners can add media right away.
    this.events.emit('peer', { connection: peer.connection })
    peer.start()
  }

  #removePeer (peer: Peer): void {
    this.#peers.delete(peer.id)
    this.#retry.forget(peer.id)
    peer.close()
    this.events.emit('close', peer.connection)
    this.#descriptions.delete(peer.id)
  }

  /** Sends a frame for a peer, kept for a retry in case the server answers peer-busy. */
  #relay (type: RelayType, to: string, data: FrameData): void {
    this.#retry.sent(type, to, data)
    this.#signals.send(type, data)
  }

  /** How a Peer reaches the server and the page. */
  readonly #host: PeerHost = {
    sendDescription: (peer, description) => { this.#relay('rtc:sdp', peer.id, { to: peer.id, description }) },
    sendCandidate: (peer, candidate) => { this.#relay('rtc:candidate', peer.id, { for: peer.id, candidate }) },
    failed: (peer, reason, err) => {
      if (this.#closed) return
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      this.events.emit('error', { reason, message, peer: peer.id })
    },
    statechange: (peer) => { this.events.emit('statechange', { connection: peer.connection, state: peer.pc.connectionState }) },
    track: (peer, event) => { this.events.dispatchEvent(poolTrackEvent(event, peer.connection)) },
    datachannel: (peer, event) => { this.events.dispatchEvent(poolDataChannelEvent(event, peer.connection)) }
  }
}

/** The member an `rtc:close` or `rtc:describe` names (`id`, or `uid` as rtcpool 3.0.0 reads). */
function memberId (data: FrameData): unknown {
  return typeof data.id === 'string' ? data.id : data.uid
}

/** `rtc:joined.ice` or `rtc:ice` data, checked: `{ servers: RTCIceServer[], expiresAt: number | null }`, or null. */
function iceServers (value: unknown): IceServersResult | null {
  if (!isObject(value) || !Array.isArray(value.servers)) return null
  const servers = value.servers.filter((s): s is IceServer => isObject(s) && (typeof s.urls === 'string' || Array.isArray(s.urls)))
  const expiresAt = typeof value.expiresAt === 'number' ? value.expiresAt : null
  return { servers: servers.map(copyServer), expiresAt }
}

function copyServer (server: IceServer): IceServer {
  return { ...server, urls: Array.isArray(server.urls) ? [...server.urls] : server.urls }
}

function isRelayType (value: unknown): value is RelayType {
  return value === 'rtc:sdp' || value === 'rtc:candidate'
}

function isMediaStream (value: unknown): value is MediaStream {
  return typeof MediaStream !== 'undefined' && value instanceof MediaStream
}
