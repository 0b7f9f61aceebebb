// The events a Pool dispatches (`pool.events`), with rtcpool 3.x's names and shapes.

import type { FrameData } from '../protocol'
import type { Description, IceServersResult } from '../types'
import type { ManagedConnection } from './connection'
import { TypedEventTarget } from './events'
import type { SignalError } from './signalling'
import type { DisconnectDetail } from './transceiver'

/** Detail of the `join` event: who we are and who was already there. */
export interface JoinDetail {
  id: string
  pool: string
  peers: string[]
  descriptions: Record<string, Description>
  /** True when this join follows a reconnection of the signalling socket. */
  rejoin: boolean
}

/** A `track` event: the RTCTrackEvent plus the peer it came from. */
export interface PoolTrackEvent extends RTCTrackEvent {
  /** The peer's id (rtcpool 3.x: `evt.connection`). */
  readonly connection: string
  readonly peer: ManagedConnection
}

/** A `datachannel` event: the RTCDataChannelEvent plus the peer that opened it. */
export interface PoolDataChannelEvent extends RTCDataChannelEvent {
  readonly connection: string
  readonly peer: ManagedConnection
}

/** Detail of the `ice` event: ICE servers from the server (`rtc:joined.ice`, or a refresh with `rtc:ice`). */
export interface IceDetail extends IceServersResult {
  /** False for the servers that came with the join, true for a refresh. */
  refreshed: boolean
  /**
   * True when the pool uses them: for every new connection, and (a refresh) applied to the open ones.
   * False when the page gave its own `iceServers`, which then win.
   */
  applied: boolean
}

/** Detail of the `reconnecting` event: the signalling socket dropped and another is opened after `delay` ms. */
export interface ReconnectingDetail {
  /** 1 for the first attempt after a drop. */
  attempt: number
  delay: number
  /** True when the session will be resumed (same id, every peer connection kept); false: a fresh join follows. */
  resuming: boolean
}

/** Detail of the `resumed` event: the session resumed on a new socket, nothing was torn down. */
export interface ResumedDetail {
  id: string
  pool: string
  /** Frames received from the server since joining, the missed ones replayed after this event included as they come. */
  received: number
}

/** Detail of the `rejoined` event: after a reconnection that could not resume, we joined afresh. */
export interface RejoinedDetail {
  /** Our new id. */
  id: string
  pool: string
  /** The members there now (a `peer` event came for each). */
  peers: string[]
  /** Our id before (the other members saw it leave), or null. */
  previous: string | null
  /** Why: `resume-failed` (the server no longer had our session), `disconnected` (no resume asked or possible), or the reason of the error that answered rtc:resume. */
  reason: string
}

export interface PoolEventMap {
  /** We joined (or rejoined) a pool. Dispatched after a `peer` event for each existing member. */
  join: CustomEvent<JoinDetail>
  /** A connection to a peer was created (a member already there, or a newcomer): add media here. */
  peer: CustomEvent<{ connection: ManagedConnection }>
  /** ICE servers from the server: with the join (before its `peer` events), then each refresh. */
  ice: CustomEvent<IceDetail>
  /** A peer left (detail: its ManagedConnection), or this pool closed (detail: null). */
  close: CustomEvent<ManagedConnection | null>
  /** A peer's description changed. */
  describe: CustomEvent<{ connection: ManagedConnection, description: Description }>
  /** The server closed the pool (`rtc:stop`). */
  stop: CustomEvent<null>
  /** A remote track arrived. */
  track: PoolTrackEvent
  /** A peer opened a data channel to us. */
  datachannel: PoolDataChannelEvent
  /** `rtc:error` from the server (detail has `reason`), or a local negotiation failure. */
  error: CustomEvent<SignalError>
  /** A peer connection's `connectionState` changed. */
  statechange: CustomEvent<{ connection: ManagedConnection, state: RTCPeerConnectionState }>
  /** An application event from the server (a frame whose type does not start with `rtc:`). */
  message: CustomEvent<{ type: string, data: FrameData }>
  /**
   * The signalling socket closed. If `resuming`, every peer stays and the session resumes on the next
   * socket; else if `reconnecting`, the peers are dropped and the pool rejoins when it is back.
   */
  disconnect: CustomEvent<DisconnectDetail>
  /** A new signalling socket is opened after `delay` ms (after each `disconnect` that will be retried). */
  reconnecting: CustomEvent<ReconnectingDetail>
  /** The session resumed on a new socket: same id, every peer connection untouched. */
  resumed: CustomEvent<ResumedDetail>
  /** After a reconnection that could not resume: joined afresh with a new id (after the `join` event). */
  rejoined: CustomEvent<RejoinedDetail>
}

export type PoolEventType = keyof PoolEventMap

const HANDLER_TYPES: PoolEventType[] = ['join', 'peer', 'close', 'describe', 'stop', 'track', 'datachannel', 'error', 'statechange', 'message', 'disconnect', 'ice', 'reconnecting', 'resumed', 'rejoined']

/** `pool.events`: typed, with `onjoin`-style handler properties. */
export class PoolEvents extends TypedEventTarget<PoolEventMap> {
  onjoin: ((event: PoolEventMap['join']) => void) | null = null
  onpeer: ((event: PoolEventMap['peer']) => void) | null = null
  onclose: ((event: PoolEventMap['close']) => void) | null = null
  ondescribe: ((event: PoolEventMap['describe']) => void) | null = null
  onstop: ((event: PoolEventMap['stop']) => void) | null = null
  ontrack: ((event: PoolTrackEvent) => void) | null = null
  ondatachannel: ((event: PoolDataChannelEvent) => void) | null = null
  onerror: ((event: PoolEventMap['error']) => void) | null = null
  onstatechange: ((event: PoolEventMap['statechange']) => void) | null = null
  onmessage: ((event: PoolEventMap['message']) => void) | null = null
  ondisconnect: ((event: PoolEventMap['disconnect']) => void) | null = null
  onice: ((event: PoolEventMap['ice']) => void) | null = null
  onreconnecting: ((event: PoolEventMap['reconnecting']) => void) | null = null
  onresumed: ((event: PoolEventMap['resumed']) => void) | null = null
  onrejoined: ((event: PoolEventMap['rejoined']) => void) | null = null

  constructor () {
    super(HANDLER_TYPES)
  }
}

/** A copy of a peer connection's `track` event that also names the peer (`connection`, `peer`). */
export function poolTrackEvent (event: RTCTrackEvent, peer: ManagedConnection): PoolTrackEvent {
  const copy = new RTCTrackEvent('track', {
    receiver: event.receiver,
    track: event.track,
    streams: [...event.streams],
    transceiver: event.transceiver
  })
  return namePeer(copy, peer)
}

/** A copy of a peer connection's `datachannel` event that also names the peer (`connection`, `peer`). */
export function poolDataChannelEvent (event: RTCDataChannelEvent, peer: ManagedConnection): PoolDataChannelEvent {
  return namePeer(new RTCDataChannelEvent('datachannel', { channel: event.channel }), peer)
}

function namePeer<E extends Event> (event: E, peer: ManagedConnection): E & { readonly connection: string, readonly peer: ManagedConnection } {
  return Object.defineProperties(event, {
    connection: { value: peer.id, enumerable: true },
    peer: { value: peer, enumerable: true }
  }) as E & { readonly connection: string, readonly peer: ManagedConnection }
}
