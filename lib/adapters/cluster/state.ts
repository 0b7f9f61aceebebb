/**
 * Where a process stands with the cluster:
 *
 * - `connecting`: attach() is connecting; nothing is served through the backend yet.
 * - `live`: connected and in sync; every change comes back through the ordered stream.
 * - `resyncing`: connected, but this process was taken for dead (or the backend lost its data): its
 *   members are re-announced and its views rebuilt while the stream is held; events still come back.
 * - `down`: a connection is lost; local members are served, joins refused, relay across dropped.
 * - `recovering`: connected again after `down`; the same resync runs, but nothing that happened
 *   during the outage can be trusted to come back through the stream.
 * - `closing`: close() is leaving the cluster; `closed`: connections released.
 */
export type ClusterState = 'connecting' | 'live' | 'resyncing' | 'down' | 'recovering' | 'closing' | 'closed'

const TRANSITIONS: Readonly<Record<ClusterState, readonly ClusterState[]>> = {
  connecting: ['live', 'closing'],
  live: ['resyncing', 'down', 'closing'],
  resyncing: ['live', 'down', 'closing'],
  down: ['recovering', 'closing'],
  recovering: ['live', 'down', 'closing'],
  closing: ['closed'],
  closed: []
}

export type StateListener = (state: ClusterState, previous: ClusterState, reason: string) => void

/** The state machine: every transition goes through `to()`, which refuses one the table does not list. */
export class Lifecycle {
  private current: ClusterState = 'connecting'

  constructor (private readonly changed: StateListener) {}

  get state (): ClusterState {
    return this.current
  }

  /** Changes go back through the stream (live, or held while resyncing). */
  get streaming (): boolean {
    return this.current === 'live' || this.current === 'resyncing'
  }

  /** Membership is being rebuilt from the backend (a resync while live, or recovery after an outage). */
  get rebuilding (): boolean {
    return this.current === 'resyncing' || this.current === 'recovering'
  }

  /** close() has begun. */
  get ending (): boolean {
    return this.current === 'closing' || this.current === 'closed'
  }

  to (next: ClusterState, reason: string): void {
    const previous = this.current
    if (!TRANSITIONS[previous].includes(next)) throw new Error(`cluster state ${previous} -> ${next} is not a transition (${reason})`)
    this.current = next
    this.changed(next, previous, reason)
  }
}

/**
 * Pools whose shard is in doubt while the cluster as a whole is not (Redis Cluster: the master of
 * their slot lost, or their slot moved), next to the adapter-wide Lifecycle: `lost` until their
 * channels are subscribed again, `back` until their resync is done. Joins to them are refused and
 * frames for them held; every other pool is served as usual.
 */
export class PoolsInDoubt {
  private readonly pools = new Map<string, 'lost' | 'back'>()

  get size (): number {
    return this.pools.size
  }

  has (pool: string): boolean {
    return this.pools.has(pool)
  }

  /** Its channels are not subscribed yet: nothing can be resynced. */
  lost (pool: string): boolean {
    return this.pools.get(pool) === 'lost'
  }

  /** Marks them lost; returns those that were not in doubt. */
  lose (pools: string[]): string[] {
    const fresh = pools.filter((p) => !this.pools.has(p))
    for (const p of pools) this.pools.set(p, 'lost')
    return fresh
  }

  /** Their channels are back: returns those that were lost (they need a resync). */
  restore (pools: string[]): string[] {
    const back = pools.filter((p) => this.pools.get(p) === 'lost')
    for (const p of back) this.pools.set(p, 'back')
    return back
  }

  /** Those of `pools` that are back and not resynced yet. */
  back (pools: Iterable<string>): string[] {
    return Array.from(pools).filter((p) => this.pools.get(p) === 'back')
  }

  /** Resynced: out of doubt, unless lost again meanwhile. */
  resynced (pools: Iterable<string>): void {
    for (const p of pools) if (this.pools.get(p) === 'back') this.pools.delete(p)
  }

  /** A pool this process no longer follows. */
  forget (pool: string): void {
    this.pools.delete(pool)
  }
}
