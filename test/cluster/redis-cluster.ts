// A throwaway Redis Cluster for the tests and the bench: six redis-servers (three masters, a replica
// each) on free loopback ports, joined with redis-cli --cluster create, stopped by pid.
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { RedisServer, freePort } from './redis'

const run = promisify(execFile)
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli'
/** Milliseconds before a silent master is failed over: short, so a failover test takes seconds. */
const NODE_TIMEOUT_MS = 1000
const STATE_TIMEOUT_MS = 30_000

async function portFree (port: number): Promise<boolean> {
  const server = net.createServer()
  server.listen(port, '127.0.0.1')
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  } catch {
    return false
  }
  server.close()
  await once(server, 'close')
  return true
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function clusterPort (taken: Set<number>): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await freePort()
    if (port <= 55535 && !taken.has(port) && !taken.has(port + 10000) && await portFree(port + 10000)) return port
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node')
}

export interface ClusterNode {
  id: string
  port: number
  master: boolean
  /** A replica's master's id ('-' for a master). */
  of: string
  slots: number[]
}

export class RedisCluster {
  private constructor (readonly servers: RedisServer[], private readonly dir: string) {}

  /**
   * Starts six nodes and joins them (three masters, one replica each); resolves when every node
   * says the cluster is ok. `nodeTimeout`: milliseconds before a silent master is failed over;
   * `persist`: each node writes every command to its append-only file, so one restarted after a
   * SIGKILL comes back with its data.
   */
  static async start ({ nodeTimeout = NODE_TIMEOUT_MS, persist = false }: { nodeTimeout?: number, persist?: boolean } = {}): Promise<RedisCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'rtc-cluster-'))
    const taken = new Set<number>()
    const servers: RedisServer[] = []
    const cluster = new RedisCluster(servers, dir)
    try {
      for (let i = 0; i < 6; i++) {
        const port = await clusterPort(taken)
        taken.add(port).add(port + 10000)
        const aof = persist ? ['--appendonly', 'yes', '--appendfsync', 'always', '--appenddirname', `aof-${port}`] : []
        const server = new RedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeout), '--dir', dir, ...aof])
        servers.push(server)
        await server.restart()
      }
      await run(REDIS_CLI, ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '1', '--cluster-yes'])
      await cluster.settled()
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  /** Where clients find the cluster. */
  get nodes (): Array<{ host: string, port: number }> {
    return this.servers.filter((s) => s.running).map((s) => ({ host: '127.0.0.1', port: s.port }))
  }

  /** The redis-server processes' ids (to read their CPU time). */
  get pids (): number[] {
    return this.servers.map((s) => s.pid).filter((pid): pid is number => pid !== undefined)
  }

  /** Runs a command on one node. */
  async on (port: number, ...args: Array<string | number>): Promise<any> {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false })
    try {
      await client.connect()
      return await client.call(String(args[0]), ...args.slice(1))
    } finally {
      client.disconnect()
    }
  }

  /** The nodes as a live node sees them. */
  async topology (): Promise<ClusterNode[]> {
    const via = this.nodes[0].port
    const text = String(await this.on(via, 'CLUSTER', 'NODES'))
    const out: ClusterNode[] = []
    for (const line of text.trim().split('\n')) {
      const [id, addr, flags, of, , , , , ...ranges] = line.split(' ')
      if (flags.includes('fail') || flags.includes('noaddr')) continue
      const slots: number[] = []
      for (const r of ranges) {
        if (r.startsWith('[')) continue
        const [a, b] = r.split('-').map(Number)
        for (let s = a; s <= (b ?? a); s++) slots.push(s)
      }
      out.push({ id, port: Number(addr.split(':')[1].split('@')[0]), master: flags.includes('master'), of, slots })
    }
    return out
  }

  /** The master serving `slot` now. */
  async masterOf (slot: number): Promise<ClusterNode> {
    const owner = (await this.topology()).find((n) => n.master && n.slots.includes(slot))
    if (owner === undefined) throw new Error(`no master serves slot ${slot}`)
    return owner
  }

  /** Bounded wait until every running node reports cluster_state:ok and `check` holds (no event announces it). */
  async settled (check: () => Promise<boolean> = async () => true): Promise<void> {
    const deadline = Date.now() + STATE_TIMEOUT_MS
    for (;;) {
      const states = await Promise.all(this.nodes.map(async (n) => String(await this.on(n.port, 'CLUSTER', 'INFO').catch(() => ''))))
      if (states.every((s) => s.includes('cluster_state:ok')) && await check().catch(() => false)) return
      if (Date.now() > deadline) throw new Error(`the cluster did not settle within ${STATE_TIMEOUT_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** SIGKILLs the master of `slot` and resolves once its replica serves the slot. */
  async failover (slot: number): Promise<{ from: number, to: number }> {
    const old = await this.masterOf(slot)
    const server = this.servers.find((s) => s.port === old.port) as RedisServer
    await server.stop('SIGKILL')
    let to = 0
    await this.settled(async () => {
      to = (await this.masterOf(slot)).port
      return to !== old.port
    })
    return { from: old.port, to }
  }

  /**
   * SIGKILLs the master of `slot` and returns at once (its replica is promoted only after the node
   * timeout, or by `takeover`): the shard is down, the others serve.
   */
  async killMaster (slot: number): Promise<{ master: ClusterNode, replica: ClusterNode }> {
    let master: ClusterNode | undefined
    let replica: ClusterNode | undefined
    // First (a bounded wait: no event says it) the master has a replica, and that replica has
    // everything the master wrote: just after `--cluster create` the replicas are still attaching.
    await this.settled(async () => {
      const nodes = await this.topology()
      master = nodes.find((n) => n.master && n.slots.includes(slot))
      replica = nodes.find((n) => n.of === master?.id)
      if (master === undefined || replica === undefined) return false
      const [m, r] = await Promise.all([master.port, replica.port].map(async (port) => String(await this.on(port, 'INFO', 'replication'))))
      const offset = (info: string): number => Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? -1)
      return r.includes('master_link_status:up') && offset(r) >= offset(m)
    })
    const dead = master as ClusterNode
    await this.servers.find((s) => s.port === dead.port)?.stop('SIGKILL')
    return { master: dead, replica: replica as ClusterNode }
  }

  /** Starts a stopped node again (with its data when `persist`); resolves once the cluster is ok and it serves `slot`. */
  async restart (node: ClusterNode, slot: number): Promise<void> {
    await this.servers.find((s) => s.port === node.port)?.restart()
    await this.settled(async () => (await this.masterOf(slot)).port === node.port)
  }

  /** Promotes a replica now, without its master's agreement (CLUSTER FAILOVER TAKEOVER); resolves once it serves `slot`. */
  async takeover (replica: ClusterNode, slot: number): Promise<void> {
    await this.on(replica.port, 'CLUSTER', 'FAILOVER', 'TAKEOVER')
    await this.settled(async () => (await this.masterOf(slot)).port === replica.port)
  }

  /** Moves `slot` with its keys to another master: IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE everywhere. */
  async migrate (slot: number): Promise<{ from: number, to: number, keys: number }> {
    const masters = (await this.topology()).filter((n) => n.master)
    const source = masters.find((n) => n.slots.includes(slot)) as ClusterNode
    const target = masters.find((n) => n !== source) as ClusterNode
    await this.on(target.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id)
    await this.on(source.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id)
    let moved = 0
    for (let i = 0; i < 1000; i++) {
      const keys = await this.on(source.port, 'CLUSTER', 'GETKEYSINSLOT', slot, 100) as string[]
      if (keys.length === 0) break
      await this.on(source.port, 'MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...keys)
      moved += keys.length
    }
    for (const n of [target, source, ...masters.filter((m) => m !== source && m !== target)]) {
      await this.on(n.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id)
    }
    await this.settled(async () => (await this.masterOf(slot)).port === target.port)
    return { from: source.port, to: target.port, keys: moved }
  }

  /** Stops every node by its pid and removes the nodes' files. */
  async stop (): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop('SIGKILL')))
    rmSync(this.dir, { recursive: true, force: true })
  }
}
