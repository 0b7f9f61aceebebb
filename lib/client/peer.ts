// Peer: the negotiation of one RTCPeerConnection with one other member of the pool, by the
// W3C "perfect negotiation" pattern. The Pool makes one Peer per member, hands it that
// member's rtc:sdp and rtc:candidate, and hears back through a PeerHost.

import type { Description } from '../types'
import { ManagedConnection } from './connection'

/** How long a newcomer waits for a peer's first offer before offering itself (ms). */
export const FIRST_OFFER_GRACE = 1500
/** How long the polite side leaves a failed connection to the impolite side's ICE restart (ms). */
export const POLITE_RESTART_DELAY = 2000

/** What a Peer needs from its owner. Never called after the Peer is closed. */
export interface PeerHost {
  /** Send our description to the peer (`rtc:sdp`). */
  sendDescription (peer: Peer, description: RTCSessionDescriptionInit): void
  /** Send one of our ICE candidates to the peer (`rtc:candidate`). */
  sendCandidate (peer: Peer, candidate: RTCIceCandidateInit): void
  /** A step of the negotiation failed (`negotiation-failed`, `candidate-failed`). */
  failed (peer: Peer, reason: string, err: unknown): void
  /** The connection's `connectionState` changed. */
  statechange (peer: Peer): void
  track (peer: Peer, event: RTCTrackEvent): void
  datachannel (peer: Peer, event: RTCDataChannelEvent): void
}

export interface PeerOptions {
  /** The member's id. */
  id: string
  /** We joined after this member: we yield on offer collisions and wait for its first offer. */
  polite: boolean
  /** The RTCPeerConnection's configuration. */
  config: RTCConfiguration
  /** Every member's description, kept by the Pool (the ManagedConnection reads its own). */
  descriptions: ReadonlyMap<string, Description>
}

/**
 * One member's RTCPeerConnection and its negotiation: offers and incoming descriptions
 * run through one queue (so `setLocalDescription(offer)` and `setRemoteDescription(offer)`
 * never overlap), candidates that come before a remote description wait for one, and a
 * failed connection restarts ICE.
 */
export class Peer {
  readonly id: string
  readonly polite: boolean
  readonly pc: RTCPeerConnection
  /** The public face of this peer. */
  readonly connection: ManagedConnection
  readonly #host: PeerHost
  #closed = false
  #makingOffer = false
  #ignoreOffer = false
  #settingRemoteAnswer = false
  /** Candidates that arrived before any remote description. */
  #pending: RTCIceCandidateInit[] = []
  /** Polite side: waiting for the peer's first offer until this fires. */
  #graceTimer: ReturnType<typeof setTimeout> | null = null
  #graceOver = false
  #restartTimer: ReturnType<typeof setTimeout> | null = null
  /** New ICE servers were applied since the last ICE (re)start: a relayed pair may need them. */
  #iceRefreshed = false
  /** Offers and incoming sdp/candidate work, applied strictly in order. */
  #queue: Promise<void> = Promise.resolve()

  constructor (options: PeerOptions, host: PeerHost) {
    const { id, polite } = options
    this.id = id
    this.polite = polite
    this.#host = host
    const pc = this.pc = new RTCPeerConnection(options.config)
    this.connection = new ManagedConnection(pc, id, options.descriptions, polite)
    pc.addEventListener('icecandidate', (event) => {
      if (!this.#closed && event.candidate !== null) host.sendCandidate(this, event.candidate.toJSON())
    })
    pc.addEventListener('negotiationneeded', () => this.#onNegotiationNeeded())
    pc.addEventListener('iceconnectionstatechange', () => this.#onIceConnectionState())
    pc.addEventListener('connectionstatechange', () => {
      if (!this.#closed) host.statechange(this)
    })
    pc.addEventListener('track', (event) => {
      if (!this.#closed) host.track(this, event)
    })
    pc.addEventListener('datachannel', (event) => {
      if (!this.#closed) host.datachannel(this, event)
    })
  }

  /** True once closed. */
  get closed (): boolean {
    return this.#closed
  }

  /**
   * Starts negotiating. The impolite side (the member already in the pool) opens the first
   * exchange even with nothing to send yet, so that the polite side never has to (see
   * #onNegotiationNeeded). Call it after the `peer` listeners ran: what they added is in the offer.
   */
  start (): void {
    if (!this.polite) this.#enqueue(() => this.#offer())
  }

  /** An `rtc:sdp` from this member: an offer or an answer. */
  receiveDescription (description: RTCSessionDescriptionInit): void {
    this.#enqueue(() => this.#applyDescription(description))
  }

  /** An `rtc:candidate` from this member. */
  receiveCandidate (candidate: RTCIceCandidateInit): void {
    this.#enqueue(async () => {
      if (this.#closed) return
      if (this.pc.remoteDescription === null) {
        // Before any remote description: keep it for when one is set (rtcpool throws here).
        // Kept even while ignoring a colliding offer: the peer may reuse these candidates
        // (same ICE credentials) in the answer it sends after rolling back.
        this.#pending.push(candidate)
        return
      }
      await this.#addCandidate(candidate)
    })
  }

  /**
   * New ICE servers (a credential refresh): used by the next ICE gathering. A connection whose
   * selected pair goes through a TURN relay restarts ICE when it then disconnects or fails, so that
   * its new allocation uses them (the relay may refuse the old credentials once they expire).
   */
  setConfiguration (config: RTCConfiguration): void {
    if (this.#closed) return
    try {
      this.pc.setConfiguration(config)
      this.#iceRefreshed = true
    } catch (err) {
      this.#failed('configuration-failed', err)
    }
  }

  /** Closes the connection and stops every timer; the host hears nothing more. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer)
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer)
    this.#graceTimer = this.#restartTimer = null
    this.pc.close()
  }

  #enqueue (work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work, work)
  }

  // The first exchange is offered by the member already in the pool (the impolite side):
  // Chromium sometimes never gathers ICE candidates for an answer made right after its own
  // first offer was rolled back, leaving the pair in 'new' for good. So the polite newcomer
  // waits for that offer (up to FIRST_OFFER_GRACE, in case the peer is a client that only
  // offers when it has something to send) instead of racing it.
  #onNegotiationNeeded (): void {
    if (this.polite && this.pc.remoteDescription === null && !this.#graceOver) {
      if (this.#graceTimer === null) {
        this.#graceTimer = setTimeout(() => {
          this.#graceTimer = null
          this.#graceOver = true
          if (this.pc.remoteDescription === null) this.#enqueue(() => this.#offer())
        }, FIRST_OFFER_GRACE)
      }
      return
    }
    this.#enqueue(() => this.#offer())
  }

  // Offers go through the same queue as incoming descriptions.
  async #offer (): Promise<void> {
    // Not stable: an exchange is under way; the browser fires negotiationneeded again
    // when it is back to stable if there is still something to negotiate.
    if (this.#closed || this.pc.signalingState !== 'stable') return
    try {
      this.#makingOffer = true
      await this.pc.setLocalDescription()
      this.#sendLocalDescription()
    } catch (err) {
      this.#failed('negotiation-failed', err)
    } finally {
      this.#makingOffer = false
    }
  }

  // W3C perfect negotiation.
  async #applyDescription (description: RTCSessionDescriptionInit): Promise<void> {
    if (this.#closed) return
    const pc = this.pc
    try {
      const readyForOffer = !this.#makingOffer && (pc.signalingState === 'stable' || this.#settingRemoteAnswer)
      const collision = description.type === 'offer' && !readyForOffer
      this.#ignoreOffer = !this.polite && collision
      if (this.#ignoreOffer) return
      this.#settingRemoteAnswer = description.type === 'answer'
      await pc.setRemoteDescription(description)
      this.#settingRemoteAnswer = false
      const pending = this.#pending
      this.#pending = []
      for (const candidate of pending) await this.#addCandidate(candidate)
      if (description.type === 'offer') {
        await pc.setLocalDescription()
        this.#sendLocalDescription()
      }
    } catch (err) {
      this.#settingRemoteAnswer = false
      this.#failed('negotiation-failed', err)
    }
  }

  #sendLocalDescription (): void {
    const description = this.pc.localDescription
    if (!this.#closed && description !== null) this.#host.sendDescription(this, description.toJSON())
  }

  async #addCandidate (candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(candidate)
    } catch (err) {
      // Candidates of an offer we ignored, or of a generation already replaced by an
      // ICE restart, are expected to fail; anything else is worth reporting.
      if (!this.#ignoreOffer && this.pc.signalingState !== 'closed' && (err as Error)?.name !== 'OperationError') {
        this.#failed('candidate-failed', err)
      }
    }
  }

  // ICE restart on failure, and on a disconnect of a relayed pair after new ICE servers came (its
  // relay may be refusing the old credentials): the impolite side at once, the polite side only if
  // the connection is still down a moment later (so both do not offer at the same time).
  #onIceConnectionState (): void {
    if (this.#closed) return
    const state = this.pc.iceConnectionState
    if (state === 'failed') {
      this.#restartIce(['failed'])
    } else if (state === 'disconnected' && this.#iceRefreshed) {
      this.#relayed().then((relayed) => {
        if (relayed && !this.#closed && this.pc.iceConnectionState === 'disconnected') this.#restartIce(['disconnected', 'failed'])
      }, () => {})
    }
  }

  #restartIce (states: readonly RTCIceConnectionState[]): void {
    const restart = (): void => {
      this.#iceRefreshed = false
      this.pc.restartIce()
    }
    if (!this.polite) {
      restart()
      return
    }
    if (this.#restartTimer !== null) return
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      if (!this.#closed && states.includes(this.pc.iceConnectionState)) restart()
    }, POLITE_RESTART_DELAY)
  }

  /** Whether the selected candidate pair goes through a TURN relay (either end a `relay` candidate). */
  async #relayed (): Promise<boolean> {
    const stats = await this.pc.getStats()
    let pair: { localCandidateId?: string, remoteCandidateId?: string } | undefined
    stats.forEach((report: { type: string, selectedCandidatePairId?: string }) => {
      if (report.type === 'transport' && report.selectedCandidatePairId !== undefined) pair = stats.get(report.selectedCandidatePairId)
    })
    if (pair === undefined) return false
    return [pair.localCandidateId, pair.remoteCandidateId].some((id) => id !== undefined && stats.get(id)?.candidateType === 'relay')
  }

  #failed (reason: string, err: unknown): void {
    if (!this.#closed) this.#host.failed(this, reason, err)
  }
}
