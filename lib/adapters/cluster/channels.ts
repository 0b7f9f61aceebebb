import type { AdapterHost } from '../adapter'
import type { Transport } from './transport'

export interface Channel {
  refs: number
  ready: Promise<unknown>
}

const noop = (): void => {}

/**
 * The pool channels this process subscribes to: a pool's channel is kept while this process has a
 * view of the pool or an operation on it is in flight (reference counted), so that its events come
 * back through the stream.
 */
export class Channels {
  private readonly channels = new Map<string, Channel>()

  /** `dropped`: called when a pool's channel is given up. */
  constructor (private readonly transport: Transport, private readonly host: AdapterHost, private readonly dropped: (pool: string) => void) {}

  has (pool: string): boolean {
    return this.channels.has(pool)
  }

  names (): string[] {
    return Array.from(this.channels.keys())
  }

  /** Subscribes if needed and takes a reference; await `ready` before relying on the stream. */
  retain (pool: string): Channel {
    let ch = this.channels.get(pool)
    if (ch === undefined) {
      ch = { refs: 0, ready: this.transport.subscribe(pool) }
      ch.ready.catch(noop)
      this.channels.set(pool, ch)
    }
    ch.refs++
    return ch
  }

  /** Takes a reference on a channel only if it is subscribed already. */
  borrow (pool: string): Channel | undefined {
    const ch = this.channels.get(pool)
    if (ch !== undefined) ch.refs++
    return ch
  }

  release (pool: string, ch: Channel | undefined): void {
    if (ch === undefined) return
    ch.refs--
    this.unsubscribeIfIdle(pool)
  }

  unsubscribeIfIdle (pool: string): void {
    const ch = this.channels.get(pool)
    if (ch === undefined || ch.refs > 0 || this.host.view(pool) !== undefined) return
    this.channels.delete(pool)
    this.transport.unsubscribe(pool)
    this.dropped(pool)
  }
}
