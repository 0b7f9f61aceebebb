import { setTimeout as delay } from 'node:timers/promises'
import type { Lifecycle } from './state'
import type { NodeMessage, Transport } from './transport'

/** Frames held for other processes while this process's membership is rebuilt; beyond, they are dropped. */
const MAX_HELD = 10_000
/** Characters of one tick's batch to a process beyond which it goes out at once (a burst is sent in parts). */
const MAX_BATCH_CHARS = 64 * 1024
/**
 * How long, and how often, what reached no process is published again: held frames after a
 * shard's pools are resynced (to a process not subscribed there yet), and a kick.
 */
export const RESEND_MS = 5000
const RESEND_EVERY_MS = 100

/** A publish's reply: true when every publish it made reached a subscriber. */
function reached (reply: unknown): boolean {
  return Array.isArray(reply) ? reply.every((n) => Number(n) > 0) : Number(reply) > 0
}

/** A message's size, near enough to bound a batch. */
function chars (m: NodeMessage): number {
  switch (m.type) {
    case 'deliver':
    case 'forward': return m.text.length
    case 'kick': return m.reason.length
    case 'fence': return m.node.length
    case 'handover': return m.held === null ? 0 : m.held.frames.reduce((n, f) => n + f.length, 0)
  }
}

/** Messages in consecutive parts of at most MAX_BATCH_CHARS (one at least each). */
function inParts (messages: NodeMessage[]): NodeMessage[][] {
  const parts: NodeMessage[][] = []
  let size = Infinity
  for (const m of messages) {
    const n = chars(m)
    if (size + n > MAX_BATCH_CHARS) {
      parts.push([])
      size = 0
    }
    parts[parts.length - 1].push(m)
    size += n
  }
  return parts
}

interface Batch {
  messages: NodeMessage[]
  chars: number
}

/**
 * Frames for members on other processes. While live, the frames of one tick are batched per
 * target process and published together once the tick's I/O is handled (setImmediate): one
 * publish per target process per tick, not one per frame, which is most of what a relayed frame
 * costs. While this process's membership is being rebuilt (a resync, or an outage with the
 * command connection up), they are held and published, in order, once it is live again: a member
 * that the backend had lost is announced again first, so no peer gets a frame from a member it
 * was told had left (docs/protocol.md, rule 9). With no connection, they are dropped (counted for
 * the log). A membership change started here drains the batch first (`drain`), so frames sent
 * before it reach their targets before its event. Frames of a pool whose shard alone is in doubt
 * (Redis Cluster) are held the same way, until that pool is resynced; the other pools' go out.
 */
export class Relay {
  private held: Array<[string, NodeMessage]> = []
  private batches = new Map<string, Batch>()
  private scheduled: NodeJS.Immediate | null = null
  private dropped = 0
  private readonly releasing = new Set<NodeJS.Timeout>()
  /** Pools whose held frames are being released (newer ones wait behind them): how many releases each. */
  private readonly released = new Map<string, number>()

  /** `inDoubt`: the pool's shard alone is in doubt. */
  constructor (private readonly transport: Transport, private readonly lifecycle: Lifecycle, private readonly inDoubt: (pool: string) => boolean) {}

  send (node: string, message: NodeMessage): void {
    const { state } = this.lifecycle
    if (!this.transport.writable || state === 'connecting' || state === 'closed') {
      this.dropped++
    } else if ((state === 'live' || state === 'closing') && (message.type === 'kick' || !(this.inDoubt(message.pool) || this.released.has(message.pool)))) {
      this.enqueue(node, message)
    } else {
      this.hold(node, message)
    }
  }

  /**
   * The backend was lost. With commands still possible (only a subscription is in doubt, e.g. a
   * Redis Cluster slot moved), this tick's batches are held, in order, with what comes after (they
   * go out once the membership is rebuilt, like the frames sent meanwhile); without, dropped.
   */
  down (): void {
    if (!this.transport.writable) {
      this.discard()
      return
    }
    if (this.scheduled !== null) clearImmediate(this.scheduled)
    this.scheduled = null
    const batches = this.batches
    this.batches = new Map()
    for (const [node, batch] of batches) for (const message of batch.messages) this.hold(node, message)
  }

  /** Live again (or pools out of doubt): what was held goes out, in order, before anything newer; what is still in doubt stays held. */
  flush (): void {
    const held = this.held
    this.held = []
    for (const [node, message] of held) this.send(node, message)
  }

  /**
   * A shard's pools are resynced: their held frames go out, in order per target process. A
   * process whose subscription on that shard is not back yet (its own resync runs a moment later)
   * receives nothing: its frames are sent again shortly, for at most RESEND_MS. Until every held
   * frame was received (or given up), newer frames of those pools are held behind them.
   */
  release (pools: ReadonlySet<string>): void {
    for (const p of pools) this.released.set(p, (this.released.get(p) ?? 0) + 1)
    const done = (): void => {
      for (const p of pools) {
        const n = (this.released.get(p) ?? 1) - 1
        if (n > 0) this.released.set(p, n)
        else this.released.delete(p)
      }
      this.flush()
    }
    const mine: Array<[string, NodeMessage]> = []
    const rest: Array<[string, NodeMessage]> = []
    for (const entry of this.held) (entry[1].type !== 'kick' && pools.has(entry[1].pool) ? mine : rest).push(entry)
    this.held = rest
    const until = Date.now() + RESEND_MS
    const attempt = (pending: Array<[string, NodeMessage]>): void => {
      const byNode = new Map<string, NodeMessage[]>()
      for (const [node, m] of pending) byNode.get(node)?.push(m) ?? byNode.set(node, [m])
      Promise.all(Array.from(byNode, async ([node, list]) => {
        // In parts of MAX_BATCH_CHARS, in order on one connection: sent again only when none
        // reached the process (a later part received and an earlier one not: that one is lost, not reordered).
        const parts = inParts(list)
        const replies = await Promise.all(parts.map((part) => this.transport.publish(node, part).then(reached, () => {
          this.dropped += part.length
          return true
        })))
        if (replies.some(Boolean)) {
          for (const [i, part] of parts.entries()) if (!replies[i]) this.dropped += part.length
          return []
        }
        return list.map((m): [string, NodeMessage] => [node, m])
      })).then((left) => {
        const again = left.flat()
        if (again.length === 0 || Date.now() > until || this.lifecycle.ending) {
          this.dropped += again.length // published to nobody
          done()
          return
        }
        const timer = setTimeout(() => {
          this.releasing.delete(timer)
          attempt(again)
        }, RESEND_EVERY_MS)
        timer.unref()
        this.releasing.add(timer)
      }, done)
    }
    attempt(mine)
  }

  /**
   * Publishes `messages` to process `node` at once, and again every RESEND_EVERY_MS while no
   * process receives them (it died, or is not subscribed again after a failover), for at most
   * RESEND_MS or until the adapter closes. Resolves with whether a process received them.
   */
  async publishUntilReceived (node: string, messages: readonly NodeMessage[]): Promise<boolean> {
    const until = Date.now() + RESEND_MS
    while (!reached(await this.transport.publish(node, messages))) {
      if (Date.now() >= until || this.lifecycle.ending) return false
      await delay(RESEND_EVERY_MS, undefined, { ref: false })
    }
    return true
  }

  /** Publishes this tick's batches now. */
  drain (): void {
    if (this.scheduled !== null) clearImmediate(this.scheduled)
    this.scheduled = null
    const batches = this.batches
    this.batches = new Map()
    for (const [node, batch] of batches) this.publish(node, batch.messages)
  }

  /** The connection was lost or the adapter closed: what was held or batched is dropped. */
  discard (): void {
    if (this.scheduled !== null) clearImmediate(this.scheduled)
    this.scheduled = null
    for (const timer of this.releasing) clearTimeout(timer)
    this.releasing.clear()
    this.released.clear()
    for (const batch of this.batches.values()) this.dropped += batch.messages.length
    this.dropped += this.held.length
    this.batches = new Map()
    this.held = []
  }

  /** Frames dropped since the last call. */
  takeDropped (): number {
    const n = this.dropped
    this.dropped = 0
    return n
  }

  /** Frames dropped so far, for a log line. */
  get droppedSoFar (): number {
    return this.dropped
  }

  private hold (node: string, message: NodeMessage): void {
    if (this.held.length < MAX_HELD) this.held.push([node, message])
    else this.dropped++
  }

  private enqueue (node: string, message: NodeMessage): void {
    let batch = this.batches.get(node)
    if (batch === undefined) {
      batch = { messages: [], chars: 0 }
      this.batches.set(node, batch)
    }
    batch.messages.push(message)
    batch.chars += chars(message)
    if (batch.chars >= MAX_BATCH_CHARS) {
      this.batches.delete(node)
      this.publish(node, batch.messages)
    } else if (this.scheduled === null) {
      this.scheduled = setImmediate(() => this.drain())
      this.scheduled.unref()
    }
  }

  private publish (node: string, messages: NodeMessage[]): void {
    this.transport.publish(node, messages).catch(() => { this.dropped += messages.length })
  }
}
