import type { Handover } from './transport'

/** How long the claiming process waits for the old one's handover (and the fences); past it the resume fails without a handover (never a silent gap). */
export const HANDOVER_WAIT_MS = 3000
/** How long a process passes on frames and fences that still reach it for a member that moved away. */
const FORWARD_MS = 10_000
/** Moved members remembered at most (the oldest are forgotten first). */
const MAX_MOVED = 10_000

interface Expected {
  /** The old process's handover, once in (null: it said the frames are lost). */
  held?: Handover | null
  /** Processes whose fence is awaited (known once the claim's reply is in), and those whose fence came. */
  fences?: Set<string>
  fenced: Set<string>
  resolve: (held: Handover | null) => void
  timer: NodeJS.Timeout
}

/**
 * The two ends of a member's move to another process (a resume there).
 *
 * On the process it moved to: what it awaits from the old one (`expect`): the handover (the frames
 * held for the member, `arrived`), and a fence from each process that had members in the pool
 * (`fenced`), which the old process passes on after any frame that process had sent it for the
 * member before it heard of the move. Until then frames sent straight here are held apart, so that
 * each sender's frames stay in order across the move (docs/protocol.md, rule 4).
 *
 * On the old process: where the member went, for a while (`movedTo`), so that a frame or a fence
 * a sender addressed here before it heard of the move is passed on instead of lost.
 */
export class Handovers {
  private readonly expected = new Map<string, Expected>()
  private readonly moved = new Map<string, { node: string, timer: NodeJS.Timeout, done: () => void }>()

  /**
   * Resolves with the frames of member `id` once its old process handed them over and every
   * awaited fence came; at the timeout, with the handover if it came (a fence missing: a process
   * that died or does not send them), null if it did not (or said the frames are lost).
   */
  expect (id: string, waitMs = HANDOVER_WAIT_MS): Promise<Handover | null> {
    this.cancel(id)
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.settle(id, true) }, waitMs)
      timer.unref()
      this.expected.set(id, { fenced: new Set(), resolve, timer })
    })
  }

  /** The processes whose fence the move of `id` awaits (those with members in its pool at the move, but the old one). */
  awaitFences (id: string, nodes: Iterable<string>): void {
    const e = this.expected.get(id)
    if (e === undefined) return
    e.fences = new Set(nodes)
    this.settle(id)
  }

  /** A handover came: false when nobody awaits it (given up: the member left meanwhile). */
  arrived (id: string, held: Handover | null): boolean {
    const e = this.expected.get(id)
    if (e === undefined) return false
    e.held = held
    this.settle(id)
    return true
  }

  /** Process `node`'s fence for `id` came through the old process: nothing more of its frames comes that way. */
  fenced (id: string, node: string): void {
    this.expected.get(id)?.fenced.add(node)
    this.settle(id)
  }

  cancel (id: string): void {
    const e = this.expected.get(id)
    if (e === undefined) return
    e.held = null
    this.settle(id, true)
  }

  private settle (id: string, now = false): void {
    const e = this.expected.get(id)
    if (e === undefined || e.held === undefined) {
      if (now && e !== undefined) this.finish(id, e, null)
      return
    }
    if (now || e.held === null || (e.fences !== undefined && Array.from(e.fences).every((n) => e.fenced.has(n)))) this.finish(id, e, e.held)
  }

  private finish (id: string, e: Expected, held: Handover | null): void {
    this.expected.delete(id)
    clearTimeout(e.timer)
    e.resolve(held)
  }

  /**
   * Member `id` of this process moved to `node`: for FORWARD_MS, what still comes for it is
   * passed on; then `done` (which lets go of what kept it coming: the pool's channels).
   */
  left (id: string, node: string, done: () => void): void {
    this.back(id)
    if (this.moved.size >= MAX_MOVED) this.back(this.moved.keys().next().value as string)
    const timer = setTimeout(() => { this.back(id) }, FORWARD_MS)
    timer.unref()
    this.moved.set(id, { node, timer, done })
  }

  /** A member that moved away came back, or its time is up. */
  back (id: string): void {
    const m = this.moved.get(id)
    if (m === undefined) return
    this.moved.delete(id)
    clearTimeout(m.timer)
    m.done()
  }

  /** Where a member that was here went, if it moved away lately. */
  movedTo (id: string): string | undefined {
    return this.moved.get(id)?.node
  }

  /** Closing: every awaited handover is given up. */
  clear (): void {
    for (const id of Array.from(this.expected.keys())) this.cancel(id)
    for (const id of Array.from(this.moved.keys())) this.back(id)
  }
}
