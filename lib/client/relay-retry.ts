// peer-busy: the server refused to relay one of our rtc:sdp / rtc:candidate frames because the
// target's queue was full (docs/protocol.md, "Error reasons added"). RelayRetry keeps what was
// last relayed to each peer and sends it again after a short backoff (50 ms, doubling, 5 tries),
// then gives up (the Pool reports an error). The error names the frame's type and target, not the
// frame: an rtc:sdp is sent again if it is still the current description; for rtc:candidate every
// candidate of the current ICE credentials goes again (a browser ignores a candidate it already has).

import { isObject } from '../protocol'
import type { FrameData } from '../protocol'

export const PEER_BUSY_FIRST_DELAY = 50
export const PEER_BUSY_TRIES = 5
/** A peer with no refusal for this long (ms) after a retry starts again from the first delay. */
export const PEER_BUSY_QUIET = 1_000
/** Candidates kept per peer for a retry (the newest). */
export const MAX_KEPT_CANDIDATES = 64

export type RelayType = 'rtc:sdp' | 'rtc:candidate'

/** The timers a RelayRetry uses (the global ones in a browser; a fake clock in a test). */
export interface RetryTimers {
  setTimeout (callback: () => void, ms: number): unknown
  clearTimeout (timer: unknown): void
}

export interface RelayRetryHost {
  /** Sends a frame again. */
  send (type: RelayType, data: FrameData): void
  /** Whether an rtc:sdp for `to` is still worth sending (the peer is there and it is its current description). */
  current (to: string, data: FrameData): boolean
  /** `tries` retries of `type` to `to` were refused too: given up. */
  gaveUp (type: RelayType, to: string, tries: number): void
}

interface Kept {
  sdp: FrameData | null
  ufrag: string | null
  candidates: FrameData[]
}

interface Retrying {
  tries: number
  timer: unknown
  quiet: unknown
}

const BROWSER_TIMERS: RetryTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => { clearTimeout(timer as ReturnType<typeof setTimeout>) }
}

export class RelayRetry {
  readonly #host: RelayRetryHost
  readonly #timers: RetryTimers
  readonly #kept = new Map<string, Kept>()
  readonly #retrying = new Map<string, Retrying>()

  constructor (host: RelayRetryHost, timers: RetryTimers = BROWSER_TIMERS) {
    this.#host = host
    this.#timers = timers
  }

  /** A frame relayed to `to` (data as sent: `{ to, description }` or `{ for, candidate }`). */
  sent (type: RelayType, to: string, data: FrameData): void {
    let kept = this.#kept.get(to)
    if (kept === undefined) this.#kept.set(to, kept = { sdp: null, ufrag: null, candidates: [] })
    if (type === 'rtc:sdp') {
      kept.sdp = data
      const ufrag = iceUfrag(data.description)
      // New ICE credentials (an ICE restart): the old candidates are of no use any more.
      if (ufrag !== null && ufrag !== kept.ufrag) kept.candidates = []
      kept.ufrag = ufrag ?? kept.ufrag
    } else {
      kept.candidates.push(data)
      if (kept.candidates.length > MAX_KEPT_CANDIDATES) kept.candidates.shift()
    }
  }

  /** The server answered peer-busy for a frame of `type` to `to`. */
  refused (type: RelayType, to: string): void {
    const key = type + '\n' + to
    let state = this.#retrying.get(key)
    if (state === undefined) this.#retrying.set(key, state = { tries: 0, timer: null, quiet: null })
    if (state.quiet !== null) this.#timers.clearTimeout(state.quiet)
    state.quiet = null
    // A resend is planned: it carries this frame too.
    if (state.timer !== null) return
    if (state.tries >= PEER_BUSY_TRIES) {
      this.#retrying.delete(key)
      this.#host.gaveUp(type, to, state.tries)
      return
    }
    const retrying = state
    const delay = PEER_BUSY_FIRST_DELAY * 2 ** retrying.tries
    retrying.tries++
    retrying.timer = this.#timers.setTimeout(() => {
      retrying.timer = null
      retrying.quiet = this.#timers.setTimeout(() => {
        if (this.#retrying.get(key) === retrying) this.#retrying.delete(key)
      }, PEER_BUSY_QUIET)
      this.#resend(type, to)
    }, delay)
  }

  #resend (type: RelayType, to: string): void {
    const kept = this.#kept.get(to)
    if (kept === undefined) return
    if (type === 'rtc:sdp') {
      if (kept.sdp !== null && this.#host.current(to, kept.sdp)) this.#host.send(type, kept.sdp)
      return
    }
    for (const data of kept.candidates) {
      const ufrag = isObject(data.candidate) ? data.candidate.usernameFragment : undefined
      if (typeof ufrag !== 'string' || kept.ufrag === null || ufrag === kept.ufrag) this.#host.send(type, data)
    }
  }

  /** Peer `to` is gone: nothing more is sent to it. */
  forget (to: string): void {
    this.#kept.delete(to)
    for (const type of ['rtc:sdp', 'rtc:candidate'] as const) this.#stop(type + '\n' + to)
  }

  /** Every peer is gone (the pool closed or rejoined afresh). */
  clear (): void {
    for (const key of [...this.#retrying.keys()]) this.#stop(key)
    this.#kept.clear()
  }

  #stop (key: string): void {
    const state = this.#retrying.get(key)
    if (state === undefined) return
    if (state.timer !== null) this.#timers.clearTimeout(state.timer)
    if (state.quiet !== null) this.#timers.clearTimeout(state.quiet)
    this.#retrying.delete(key)
  }
}

/** The `a=ice-ufrag:` of a session description, or null. */
function iceUfrag (description: unknown): string | null {
  if (!isObject(description) || typeof description.sdp !== 'string') return null
  return /^a=ice-ufrag:(\S+)/m.exec(description.sdp)?.[1] ?? null
}
