import type { Lifecycle } from './state'
import type { NodeMessage, Transport } from './transport'

/** Frames held for other processes while this process's membership is rebuilt; beyond, they are dropped. */
const MAX_HELD = 10_000
/** Characters of one tick's batch to a process beyond which it goes out at once (a burst is sent in parts). */
const MAX_BATCH_CHARS = 64 * 1024

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

  /** `inDoubt`: the pool's shard alone is in doubt. */
  constructor (private readonly transport: Transport, private readonly lifecycle: Lifecycle, private readonly inDoubt: (pool: string) => boolean) {}

  send (node: string, message: NodeMessage): void {
    const { state } = this.lifecycle
    if (!this.transport.writable || state === 'connecting' || state === 'closed') {
      this.dropped++
    } else if ((state === 'live' || state === 'closing') && (message.type === 'kick' || !this.inDoubt(message.pool))) {
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
