// The client's half of "resume after a blip" (docs/protocol.md, "Extensions"): the resume token,
// the count of frames received since rtc:joined, and the frames the page sends while its session
// is suspended (sent once the server has answered rtc:resumed). The signalling channel owns one.

import { isObject } from '../protocol'
import type { FrameData } from '../protocol'

/** Frames held while suspended; one more and the session is not resumed (a fresh join instead: never a silent gap). */
export const MAX_HELD_FRAMES = 1_000

export interface HeldFrame {
  type: string
  data: FrameData
}

export class Resumption {
  #token: string | null = null
  #received = 0
  #counting = false
  /** Non-null while suspended: what to send after rtc:resumed. */
  #held: HeldFrame[] | null = null
  /** rtc:resume was sent on the current socket, not yet answered. */
  #asked = false

  /** Every frame received, before its own event: rtc:joined starts the count, rtc:resumed renews the token, the others count one. */
  receive (type: string | null, data: unknown): void {
    if (type === 'rtc:joined') {
      this.#counting = true
      this.#received = 0
      const resume = isObject(data) ? data.resume : undefined
      this.#token = isObject(resume) && typeof resume.token === 'string' ? resume.token : null
    } else if (type === 'rtc:resumed') {
      this.#asked = false
      this.#token = isObject(data) && typeof data.token === 'string' ? data.token : null
    } else if (this.#counting) {
      this.#received++
    }
  }

  /** The socket closed: true (suspended, frames held from now on) when the session can be resumed on the next one. */
  suspend (reconnecting: boolean): boolean {
    this.#asked = false
    if (reconnecting && this.#token !== null) {
      this.#held ??= []
      return true
    }
    this.reset()
    return false
  }

  /** Whether frames are held (suspended, or resuming and not yet answered). */
  get holding (): boolean {
    return this.#held !== null
  }

  /** Holds a frame sent while suspended; false when MAX_HELD_FRAMES are held already (the session must then be given up). */
  hold (type: string, data: FrameData): boolean {
    if (this.#held === null || this.#held.length >= MAX_HELD_FRAMES) return false
    this.#held.push({ type, data })
    return true
  }

  /** A new socket is open: the rtc:resume frame to send first, or null when there is no session to resume. */
  resumeFrame (): FrameData | null {
    if (this.#held === null || this.#token === null) return null
    this.#asked = true
    return { token: this.#token, received: this.#received }
  }

  /** Whether rtc:resume was sent on this socket and not yet answered. */
  get asked (): boolean {
    return this.#asked
  }

  /** rtc:resumed: the held frames, to send now in order. */
  release (): HeldFrame[] {
    const held = this.#held ?? []
    this.#held = null
    return held
  }

  /** The session is over (resume failed, a clean leave, no resume): the next join starts afresh. */
  reset (): void {
    this.#token = null
    this.#counting = false
    this.#received = 0
    this.#held = null
    this.#asked = false
  }

  /** Frames received since rtc:joined (the `received` of the next rtc:resume). */
  get received (): number {
    return this.#received
  }
}
