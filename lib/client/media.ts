// ManagedStream: sends a MediaStream's tracks to every peer of a pool, now and later.

import type { ManagedConnection } from './connection'
import type { PoolEventMap, PoolEvents } from './pool-events'

export type TrackKind = 'audio' | 'video'

function validKind (kind: unknown): asserts kind is TrackKind | null {
  if (kind !== null && kind !== 'audio' && kind !== 'video') {
    throw new Error(`Invalid track kind "${String(kind)}"`)
  }
}

/** What a ManagedStream sends to: a Pool (its `peer` and `close` events, its current connections). */
export interface MediaTarget {
  readonly events: PoolEvents
  readonly connections: ManagedConnection[]
}

interface PeerMedia {
  connection: ManagedConnection
  /** The stream the peer receives our tracks in (one per peer, as rtcpool does). */
  stream: MediaStream
  senders: Map<MediaStreamTrack, RTCRtpSender>
}

/**
 * Sends a MediaStream's tracks to every peer in a pool, including peers that join
 * later, until closed or every track has ended. Muting stops sending a kind of track
 * to every peer (present and future) without renegotiation; the local track is
 * disabled too, so a local preview shows the muted state.
 *
 * Events: `close` when closed or when every track has ended.
 */
export class ManagedStream extends EventTarget {
  readonly #source: MediaStream
  #tracks: MediaStreamTrack[]
  readonly #muted = new Set<MediaStreamTrack>()
  readonly #peers = new Map<string, PeerMedia>()
  #pool: MediaTarget | null = null
  #closed = false
  readonly #onPeer = (event: PoolEventMap['peer']): void => { this.#addPeer(event.detail.connection) }
  readonly #onClose = (event: PoolEventMap['close']): void => {
    if (event.detail === null) this.#peers.clear()
    else this.#peers.delete(event.detail.id)
  }

  readonly #prune = (): void => {
    this.#tracks = this.#tracks.filter((track) => track.readyState !== 'ended')
    if (this.#tracks.length === 0 && !this.#closed) this.close()
  }

  /** `new media.ManagedStream(stream, pool)`; `pool` may be given later through `pool.add_media(this)`. */
  constructor (stream: MediaStream, pool: MediaTarget | null = null) {
    super()
    this.#source = stream
    this.#tracks = stream.getTracks()
    for (const track of this.#tracks) track.addEventListener('ended', this.#prune)
    if (pool !== null) this.attach(pool)
  }

  /** Starts sending to `pool`'s peers (what `pool.add_media(this)` calls). */
  attach (pool: MediaTarget): void {
    if (this.#pool === pool) return
    if (this.#pool !== null) throw new Error('This stream is already attached to a pool')
    if (this.#closed) throw new Error('This stream is closed')
    this.#pool = pool
    pool.events.addEventListener('peer', this.#onPeer)
    pool.events.addEventListener('close', this.#onClose)
    for (const connection of pool.connections) this.#addPeer(connection)
  }

  #addPeer (connection: ManagedConnection): void {
    if (this.#closed || this.#peers.has(connection.id)) return
    const media: PeerMedia = { connection, stream: new MediaStream(), senders: new Map() }
    this.#peers.set(connection.id, media)
    for (const track of this.#tracks) {
      const sender = connection.addTrack(track, media.stream)
      media.senders.set(track, sender)
      if (this.#muted.has(track)) this.#replace(sender, null)
    }
  }

  #replace (sender: RTCRtpSender, track: MediaStreamTrack | null): void {
    sender.replaceTrack(track).catch(() => {
      // The connection closed meanwhile: nothing to mute any more.
    })
  }

  #select (kind: TrackKind | null): MediaStreamTrack[] {
    validKind(kind)
    return kind === null ? this.#tracks : this.#tracks.filter((track) => track.kind === kind)
  }

  /**
   * Stops sending all tracks, or those of `kind` ('audio' | 'video'), to every peer,
   * present and future. The local track is disabled as well.
   */
  mute (kind: TrackKind | null = null): void {
    this.#setMuted(kind, true)
  }

  /** Resumes sending all tracks, or those of `kind`, to every peer. */
  unmute (kind: TrackKind | null = null): void {
    this.#setMuted(kind, false)
  }

  #setMuted (kind: TrackKind | null, muted: boolean): void {
    for (const track of this.#select(kind)) {
      track.enabled = !muted
      if (muted) this.#muted.add(track)
      else this.#muted.delete(track)
      for (const peer of this.#peers.values()) {
        const sender = peer.senders.get(track)
        if (sender !== undefined) this.#replace(sender, muted ? null : track)
      }
    }
    this.dispatchEvent(new CustomEvent(muted ? 'mute' : 'unmute', { detail: { kind } }))
  }

  /**
   * Whether every track (or every track of `kind`) is muted. (rtcpool 3.0.2 returns the
   * opposite — whether all are enabled; this returns what the name says.)
   */
  muted (kind: TrackKind | null = null): boolean {
    const tracks = this.#select(kind)
    return tracks.length > 0 && tracks.every((track) => this.#muted.has(track))
  }

  /** Stops every track and stops sending to every peer. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#pool !== null) {
      this.#pool.events.removeEventListener('peer', this.#onPeer)
      this.#pool.events.removeEventListener('close', this.#onClose)
    }
    for (const peer of this.#peers.values()) {
      for (const sender of peer.senders.values()) {
        try {
          peer.connection.removeTrack(sender)
        } catch {}
      }
    }
    this.#peers.clear()
    for (const track of this.#tracks) {
      track.removeEventListener('ended', this.#prune)
      track.stop()
    }
    this.#tracks = []
    this.dispatchEvent(new CustomEvent('close'))
  }

  /** Whether any stream sent to a peer has this id. */
  hasStream (id: string): boolean {
    for (const peer of this.#peers.values()) if (peer.stream.id === id) return true
    return false
  }

  /** The MediaStream our tracks are sent in to peer `connId`. */
  getStream (connId: string): MediaStream | undefined {
    return this.#peers.get(connId)?.stream
  }

  /** The peer to which the stream `streamId` is sent. */
  getConnection (streamId: string): ManagedConnection | null {
    for (const peer of this.#peers.values()) if (peer.stream.id === streamId) return peer.connection
    return null
  }

  /** The MediaStream given to the constructor (for a local preview). */
  get stream (): MediaStream {
    return this.#source
  }

  /** The pool this stream is sent to, or null. */
  get pool (): MediaTarget | null {
    return this.#pool
  }

  /** Whether the stream is closed (closed explicitly, or every track ended). */
  get closed (): boolean {
    return this.#closed || this.#tracks.length === 0
  }

  /** The live tracks (a copy). */
  get tracks (): MediaStreamTrack[] {
    return [...this.#tracks]
  }
}

/**
 * The seed quickstart's older API: `const media = new media.RTCStream(stream)`, then
 * `pool.add_media(media)`. A ManagedStream that is attached to a pool later.
 */
export class RTCStream extends ManagedStream {
  constructor (stream: MediaStream, pool: MediaTarget | null = null) {
    super(stream, pool)
  }
}
