import {
  candidateFromJson, clip, frameValue, isCandidate, isPeerId, isSessionDescription, sdpFromJson, type ErrorContext, type FrameData, type Reason
} from '../protocol'
import type { ClusterView } from './cluster-view'
import { channels, sdpType } from './diagnostics'
import type { Endpoint } from './endpoint'

/** Answers the frame being handled with `rtc:error`. */
export type Refuse = (reason: Reason, message?: string, context?: ErrorContext) => void

/** The `rtc:error` a frame is answered with. */
export interface Refusal {
  readonly reason: Reason
  readonly message?: string
  readonly context: ErrorContext
}

/**
 * A member's `rtc:sdp` or `rtc:candidate` to another member of its pool (rules 3 and 4): checked,
 * rewritten with the sender's id, and written to the target here or forwarded to its process. The
 * relayed frame carries the sender's own JSON text (`frameText`) of the description or candidate,
 * once validated (frameValue). Null when it was relayed, or the refusal to answer the frame with.
 */
export function relay (cluster: ClusterView, endpoint: Endpoint, type: 'rtc:sdp' | 'rtc:candidate', data: FrameData, frameText: string): Refusal | null {
  const { id, pool } = endpoint
  const view = pool === null ? undefined : cluster.view(pool)
  if (view === undefined) return { reason: 'not-joined', context: { type } }
  const sdp = type === 'rtc:sdp'
  const to = sdp ? data.to : data.for
  if (!isPeerId(to)) return { reason: 'missing-target', context: { type } }
  if (sdp ? !isSessionDescription(data.description) : !isCandidate(data.candidate)) {
    return sdp
      ? { reason: 'invalid-description', context: { type, to } }
      : { reason: 'invalid-frame', message: 'rtc:candidate needs "candidate": an object, or null at the end of gathering', context: { type, to } }
  }
  const target = view.members.get(to)
  if (target === undefined) return { reason: 'unknown-peer', message: `No member "${clip(to)}" in your pool`, context: { type, to } }
  // Built only for a frame that will be relayed.
  const text = sdp
    ? sdpFromJson(id, frameValue(frameText, 'description', data.description))
    : candidateFromJson(id, frameValue(frameText, 'candidate', data.candidate))
  if (!cluster.relay(target, text, view.name)) return { reason: 'peer-busy', context: { type, to } }
  if (channels.relay.hasSubscribers) {
    channels.relay.publish({ node: cluster.node, pool: view.name, from: id, to, type: sdp ? 'sdp' : 'candidate', sdpType: sdp ? sdpType((data.description as { type: string }).type) : null, local: target.endpoint !== undefined })
  }
  return null
}
