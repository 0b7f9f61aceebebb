import type { Lifecycle } from './state'
import type { NodeMessage, Transport } from './transport'

/** Frames held for other processes while this process's membership is rebuilt; beyond, they are dropped. */
const MAX_HELD = 10_000

/**
 * Frames for members on other processes. Published at once while live. While this process's
 * membership is being rebuilt (a resync, or an outage with the command connection up), they are
 * held and published, in order, once it is live again: a member that the backend had lost is
 * announced again first, so no peer gets a frame from a member it was told had left (docs/protocol.md,
 * rule 9). With no connection, they are dropped (counted for the log).
 */
export class Relay {
  private held: Array<[string, NodeMessage]> = []
  private dropped = 0

  constructor (private readonly transport: Transport, private readonly lifecycle: Lifecycle) {}

  send (node: string, message: NodeMessage): void {
    const { state } = this.lifecycle
    if (!this.transport.writable || state === 'connecting' || state === 'closed') {
      this.dropped++
    } else if (state === 'live' || state === 'closing') {
      this.publish(node, message)
    } else if (this.held.length < MAX_HELD) {
      this.held.push([node, message])
    } else {
      this.dropped++
    }
  }

  /** Live again: what was held goes out, in order, before anything newer. */
  flush (): void {
    const held = this.held
    this.held = []
    for (const [node, message] of held) this.send(node, message)
  }

  /** The rebuild failed (connection lost) or the adapter closed: what was held is dropped. */
  discard (): void {
    this.dropped += this.held.length
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

  private publish (node: string, message: NodeMessage): void {
    this.transport.publish(node, message).catch(() => { this.dropped++ })
  }
}
