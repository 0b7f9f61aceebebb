import type { Handover } from './transport'

/** How long the claiming process waits for the old one's handover; past it the resume fails (never a silent gap). */
export const HANDOVER_WAIT_MS = 3000
/** How long a process forwards frames that still reach it for a member that moved away. */
const FORWARD_MS = 30_000
/** Moved members remembered at most (the oldest are forgotten first). */
const MAX_MOVED = 10_000

interface Expected {
  resolve: (held: Handover | null) => void
  timer: NodeJS.Timeout
}

/**
 * The two ends of a member's move to another process (a resume there). On the process it moved
 * to: the handover it awaits from the old one (`expect`, settled by `arrived`). On the old
 * process: where it went, for a while (`movedTo`), so that a frame a sender addressed here before
 * it heard of the move is forwarded instead of lost.
 */
export class Handovers {
  private readonly expected = new Map<string, Expected>()
  private readonly moved = new Map<string, { node: string, until: number }>()

  /** Resolves with the frames of member `id` once its old process hands them over; null when it says they are lost, or at the timeout. */
  expect (id: string, waitMs = HANDOVER_WAIT_MS): Promise<Handover | null> {
    this.cancel(id)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.expected.delete(id)
        resolve(null)
      }, waitMs)
      timer.unref()
      this.expected.set(id, { resolve, timer })
    })
  }

  /** A handover came: false when nobody awaits it (given up: the member left meanwhile). */
  arrived (id: string, held: Handover | null): boolean {
    const e = this.expected.get(id)
    if (e === undefined) return false
    this.expected.delete(id)
    clearTimeout(e.timer)
    e.resolve(held)
    return true
  }

  cancel (id: string): void {
    this.arrived(id, null)
  }

  /** Member `id` of this process moved to `node`. */
  left (id: string, node: string, now = Date.now()): void {
    if (this.moved.size >= MAX_MOVED) {
      for (const [key, m] of this.moved) if (m.until <= now || this.moved.size >= MAX_MOVED) this.moved.delete(key)
    }
    this.moved.set(id, { node, until: now + FORWARD_MS })
  }

  /** A member that moved away came back. */
  back (id: string): void {
    this.moved.delete(id)
  }

  /** Where a member that was here went, if it moved away lately. */
  movedTo (id: string, now = Date.now()): string | undefined {
    const m = this.moved.get(id)
    if (m === undefined) return undefined
    if (m.until > now) return m.node
    this.moved.delete(id)
    return undefined
  }

  /** Closing: every awaited handover is given up. */
  clear (): void {
    for (const id of Array.from(this.expected.keys())) this.cancel(id)
    this.moved.clear()
  }
}
