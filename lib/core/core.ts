import type { FastifyBaseLogger } from 'fastify'
import { MemoryAdapter } from '../adapters/memory'
import type { CoreOptions } from '../options'
import { CLOSE_CODES } from '../protocol'
import { ClusterView } from './cluster-view'
import { channels, observeAdapter } from './diagnostics'
import { drain } from './drain'
import { Emitter, type PoolManagerEvents } from './emitter'
import type { ConnectionRequest, SocketLike, WriteLimits } from './endpoint'
import { SYSTEM_CLOCK, type Clock } from './clock'
import { Heartbeat } from './heartbeat'
import { IceRefresh } from './ice-refresh'
import { JoinTimeouts } from './join-timeouts'
import { createManager, type PoolManager } from './pool-manager'
import { Resumes } from './resume'
import { Session, type SessionContext } from './session'

/** A signalling server without its transport: the plugin (or a test) hands it upgraded sockets. */
export interface Core {
  /** The public facade, `fastify.rtcPools`. */
  readonly manager: PoolManager
  /** Takes ownership of an upgraded socket; while the server closes, closes it with 1001 and returns null. */
  connect (socket: SocketLike, request: ConnectionRequest, boundPool: string | null): Session | null
  /** Attaches the adapter and starts the heartbeat; called once. */
  start (): Promise<void>
  /** Drains every connection (lib/core/drain.ts) and waits for the sockets to go. Idempotent. */
  closeAll (): Promise<void>
  /** Stops timers and releases the adapter; the facade then throws FST_RTC_CLOSED. Idempotent. */
  dispose (): Promise<void>
  /** Counts for this process (the metrics' gauges): open connections, pools it has a view of, members connected to it. */
  stats (): { connections: number, pools: number, members: number, suspended: number, draining: boolean }
}

export interface CoreDependencies {
  /** Time and timers: heartbeat, join timeouts, slow readers, rate limit, ICE refresh (fake ones in tests). */
  clock?: Clock
}

/** Wires the core's parts: the cluster view (the adapter's host), the sessions, the heartbeat and the facade. */
export function createCore (options: CoreOptions, log: FastifyBaseLogger, deps: CoreDependencies = {}): Core {
  // Failed adapter calls are published on the adapter channel (lib/core/diagnostics.ts).
  const adapter = observeAdapter(options.adapter ?? new MemoryAdapter(), () => cluster.node)
  const events = new Emitter<PoolManagerEvents>(log)
  const cluster = new ClusterView(adapter, events, log)
  const clock = deps.clock ?? SYSTEM_CLOCK
  const ice = options.iceServers === null
    ? null
    : new IceRefresh(options.iceServers, clock, (endpoint, text) => { cluster.write(endpoint, text) }, log, cluster.node)
  const { maxBufferedBytes, slowReaderTimeout } = options
  const writeLimits: WriteLimits = { maxBufferedBytes, slowReaderTimeout, clock, slowReader: (endpoint) => { cluster.slowReader(endpoint) } }
  // With an adapter that spans processes, each token is recorded with its member (a resume on another process).
  const announce = adapter.resumeToken === undefined ? null : (pool: string, id: string, hash: string) => adapter.resumeToken?.(pool, id, hash)
  const resumes = options.resume === null ? null : new Resumes(options.resume, options.resumeFailuresPerIp, announce)
  const joinTimeouts = options.joinTimeout > 0 ? new JoinTimeouts(clock, options.joinTimeout) : null
  const context: SessionContext = { options, cluster, adapter, events, log, clock, writeLimits, unknownPools: new Set(), ice, resumes, joinTimeouts }
  const heartbeat = new Heartbeat(options.heartbeatInterval, () => {
    for (const connection of cluster.connections()) connection.beat()
  }, clock)
  let closing = false
  /** closeAll is under way. */
  let draining = false
  let disposed = false
  const manager = createManager({ options, cluster, adapter, events, ice, disposed: () => disposed })

  return {
    manager,

    connect (socket, request, boundPool) {
      if (closing) {
        socket.close(CLOSE_CODES.goingAway, 'server shutting down')
        if (channels.connection.hasSubscribers) channels.connection.publish({ node: cluster.node, event: 'refused', result: 'shutting-down', statusCode: 101 })
        return null
      }
      return new Session(context, socket, request, boundPool)
    },

    async start () {
      await adapter.attach(cluster)
      heartbeat.start()
    },

    async closeAll () {
      if (closing) return
      closing = true
      draining = true
      heartbeat.stop()
      ice?.stopAll()
      await drain(cluster, options.drain, log, adapter.claim !== undefined && resumes !== null)
      draining = false
    },

    stats () {
      return { ...cluster.stats(), members: cluster.localMembers(), suspended: cluster.suspendedCount(), draining }
    },

    async dispose () {
      if (disposed) return
      disposed = true
      closing = true
      heartbeat.stop()
      joinTimeouts?.stop()
      ice?.stopAll()
      await adapter.close()
    }
  }
}
