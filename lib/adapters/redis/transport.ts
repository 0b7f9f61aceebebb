import type { FastifyBaseLogger } from 'fastify'
import { errors } from '../../errors'
import type { MemberInfo } from '../adapter'
import type { ClaimReply, Description, HeartbeatReply, JoinReply, NodeMessage, PoolSettings, Snapshot, Transport, TransportListener } from '../cluster/transport'
import { decodeClaimReply, decodeHeartbeat, decodeJoinReply, decodeLocation, decodeNodeMessages, decodePoolEvent, decodeReaped, decodeSnapshot, descriptionJson, encodeNodeMessages } from './codec'
import { RedisConnections, type ConnectionSettings } from './connection'
import { SCRIPTS, runScript, type Script } from './scripts'

export interface RedisTransportSettings extends ConnectionSettings {
  /** Prefix of every key and channel. */
  prefix: string
}

const noop = (): void => {}

/** Hands the node messages of one publish to the listener, in order (`pool`: the channel's, '' for the process's own). */
export function deliverNodeMessages (listener: TransportListener, log: FastifyBaseLogger, text: string, pool = ''): void {
  let messages: NodeMessage[]
  try {
    messages = decodeNodeMessages(text, pool)
  } catch (err) {
    log.error({ err }, 'rtc: unreadable message from another process')
    return
  }
  for (const m of messages) listener.message(m)
}

/**
 * The cluster transport on one Redis server (or a primary with replicas / Sentinel): membership in
 * keys changed only by Lua scripts (scripts.ts), events and relay on pub/sub channels (codec.ts).
 */
export class RedisTransport implements Transport {
  readonly name = 'Redis'
  private connections: RedisConnections | null = null
  private readonly prefix: string
  private readonly evPrefix: string
  private node = ''
  private nodeChannel = ''

  constructor (private readonly settings: RedisTransportSettings) {
    this.prefix = settings.prefix
    this.evPrefix = `${settings.prefix}ev:`
  }

  get ready (): boolean {
    return this.connections?.ready ?? false
  }

  get writable (): boolean {
    return this.connections?.cmd.status === 'ready'
  }

  unavailable (detail: string): Error {
    return new errors.FST_RTC_REDIS_UNAVAILABLE(detail)
  }

  private get open (): RedisConnections {
    if (this.connections === null) throw this.unavailable('not connected')
    return this.connections
  }

  async connect (node: string, log: FastifyBaseLogger, listener: TransportListener): Promise<void> {
    this.node = node
    this.nodeChannel = `${this.prefix}to:${node}`
    const onMessage = (channel: string, message: string): void => {
      if (channel === this.nodeChannel) {
        deliverNodeMessages(listener, log, message)
      } else if (channel.startsWith(this.evPrefix)) {
        const pool = channel.slice(this.evPrefix.length)
        try {
          listener.message({ type: 'pool', pool, event: decodePoolEvent(message) })
        } catch (err) {
          log.error({ err, pool }, 'rtc: unreadable pool event')
        }
      }
    }
    this.connections = await RedisConnections.open(this.settings, node, log, { message: onMessage, ready: () => listener.ready(), down: () => listener.down() })
    await this.connections.sub.subscribe(this.nodeChannel)
  }

  async disconnect (): Promise<void> {
    await this.connections?.close()
  }

  // ---------------------------------------------------------------------------------------------
  // Channels

  subscribe (pool: string): Promise<unknown> {
    return this.open.sub.subscribe(this.evPrefix + pool)
  }

  unsubscribe (pool: string): void {
    const sub = this.connections?.sub
    if (sub?.status === 'ready') sub.unsubscribe(this.evPrefix + pool).catch(noop)
  }

  async resubscribe (pools: string[]): Promise<void> {
    await this.open.sub.subscribe(this.nodeChannel, ...pools.map((p) => this.evPrefix + p))
  }

  publish (node: string, messages: readonly NodeMessage[]): Promise<unknown> {
    return this.open.cmd.publish(`${this.prefix}to:${node}`, encodeNodeMessages(messages))
  }

  // ---------------------------------------------------------------------------------------------
  // Membership: one script each

  /** Runs a script by its SHA, loading it when Redis does not have it (first use, or after a restart). */
  private async run (script: Script, ...args: Array<string | number>): Promise<unknown> {
    const cmd = this.open.cmd
    if (cmd.status !== 'ready') throw this.unavailable(`connection ${cmd.status}`)
    try {
      return await runScript(cmd, script, [], [this.prefix, ...args])
    } catch (err) {
      // In flight when the connection dropped: it may or may not have run, and is not sent again.
      if (cmd.status !== 'ready') throw this.unavailable(`connection lost (${(err as Error).message})`)
      throw err
    }
  }

  async join (pool: string, member: MemberInfo, create: boolean, maxMembers: number): Promise<JoinReply> {
    return decodeJoinReply(await this.run(SCRIPTS.join, pool, member.id, member.node, descriptionJson(member.description), create ? '1' : '0', maxMembers))
  }

  async leave (pool: string | null, id: string): Promise<number> {
    return Number(await this.run(SCRIPTS.leave, pool ?? '', id, this.node))
  }

  async describe (pool: string, id: string, description: Description): Promise<number> {
    return Number(await this.run(SCRIPTS.describe, pool, id, descriptionJson(description)))
  }

  async token (pool: string, id: string, tokenHash: string): Promise<unknown> {
    return await this.run(SCRIPTS.token, pool, id, tokenHash)
  }

  async claim (pool: string, id: string, tokenHash: string, node: string, received: number): Promise<ClaimReply> {
    return decodeClaimReply(await this.run(SCRIPTS.claim, pool, id, tokenHash, node, received), id, node)
  }

  async markSuspended (pool: string, id: string, node: string, suspended: boolean): Promise<unknown> {
    return await this.run(SCRIPTS.suspended, pool, id, node, suspended ? '1' : '0')
  }

  async suspendedIn (pool: string): Promise<string[]> {
    return await this.open.cmd.smembers(`${this.prefix}sus:${pool}`)
  }

  async create (settings: PoolSettings): Promise<number> {
    return Number(await this.run(SCRIPTS.create, settings.name, settings.maxMembers))
  }

  async close (pool: string): Promise<number> {
    return Number(await this.run(SCRIPTS.close, pool))
  }

  async snapshot (pool: string): Promise<{ seq: number, snapshot: Snapshot | null }> {
    const [seq, raw] = await this.run(SCRIPTS.snapshot, pool) as [number, unknown]
    return { seq: Number(seq), snapshot: decodeSnapshot(Number(seq), raw) }
  }

  async list (): Promise<Snapshot[]> {
    const [seq, ...raws] = await this.run(SCRIPTS.list) as [number, ...unknown[]]
    const snapshots: Snapshot[] = []
    for (const raw of raws) {
      const snapshot = decodeSnapshot(Number(seq), raw)
      if (snapshot !== null) snapshots.push(snapshot)
    }
    return snapshots
  }

  async locate (id: string): Promise<{ pool: string, node: string } | null> {
    return decodeLocation(await this.open.cmd.hget(`${this.prefix}loc`, id))
  }

  async heartbeat (node: string, ttl: number, epochCandidate: string): Promise<HeartbeatReply> {
    return decodeHeartbeat(await this.run(SCRIPTS.heartbeat, node, ttl, epochCandidate))
  }

  async reap (node?: string): Promise<Array<{ node: string, members: number }>> {
    return decodeReaped(await (node === undefined ? this.run(SCRIPTS.reap) : this.run(SCRIPTS.reap, node)))
  }

  async nodeMembers (node: string): Promise<string[]> {
    return await this.open.cmd.smembers(`${this.prefix}node:${node}`)
  }
}
