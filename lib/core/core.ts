import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { MemoryAdapter } from '../adapters/memory'
import type { CoreOptions } from '../options'
import { CLOSE_CODES } from '../protocol'
import { ClusterView } from './cluster-view'
import { channels, observeAdapter } from './diagnostics'
import { Emitter, type PoolManagerEvents } from './emitter'
import type { SocketLike, WriteLimits } from './endpoint'
import { SYSTEM_CLOCK, type Clock } from './clock'
import { Heartbeat } from './heartbeat'
import { IceRefresh } from './ice-refresh'
import { createManager, type PoolManager } from './pool-manager'
import { Resumes } from './resume'
import { Session, type SessionContext } from './session'

/** How long `closeAll` waits for sockets to finish their closing handshake before terminating them. */
const CLOSE_GRACE_MS = 2000

/** A signalling server without its transport: the plugin (or a test) hands it upgraded sockets. */
export interface Core {
  /** The public facade, `fastify.rtcPools`. */
  readonly manager: PoolManager
  /** Takes ownership of an upgraded socket; while the server closes, closes it with 1001 and returns null. */
  connect (socket: SocketLike, request: FastifyRequest, boundPool: string | null): Session | null
  /** Attaches the adapter and starts the heartbeat; called once. */
  start (): Promise<void>
  /** Closes every connection with `code` (1001 on shutdown) and waits for the sockets to go. Idempotent. */
  closeAll (code?: number): Promise<void>
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
  const resumes = options.resume === null ? null : new Resumes(options.resume, options.resumeFailuresPerIp)
  const context: SessionContext = { options, cluster, adapter, events, log, clock, writeLimits, unknownPools: new Set(), ice, resumes }
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

    async closeAll (code = CLOSE_CODES.goingAway) {
      closing = true
      draining = true
      heartbeat.stop()
      ice?.stopAll()
      const connections = Array.from(cluster.connections())
      for (const connection of connections) connection.endpoint.close(code, 'server shutting down')
      await Promise.all(connections.map((c) => c.leave('shutdown').catch((err: unknown) => log.error({ err }, 'rtc: leave failed'))))
      if (cluster.stats().connections === 0) return
      let timer: NodeJS.Timeout | undefined
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const connection of cluster.connections()) connection.endpoint.terminate()
          resolve()
        }, CLOSE_GRACE_MS)
        timer.unref()
      })
      await Promise.race([cluster.whenEmpty(), grace])
      clearTimeout(timer)
    },

    stats () {
      return { ...cluster.stats(), members: cluster.localMembers(), suspended: cluster.suspendedCount(), draining }
    },

    async dispose () {
      if (disposed) return
      disposed = true
      closing = true
      heartbeat.stop()
      ice?.stopAll()
      await adapter.close()
    }
  }
}
