// One shard of a Redis Cluster down, the others fine (issue 14: "the existing outage semantics hold
// per shard"): three signalling server processes, a pool on the shard that goes down and a pool on
// another. The master of the first is SIGKILLed with a node timeout long enough that no replica is
// promoted meanwhile: the pool on the healthy shard keeps admitting joins and relaying between
// processes, the pool on the lost shard refuses joins (join-denied); then its replica is promoted
// (CLUSTER FAILOVER TAKEOVER) and only that pool is resynced: it works again, nobody announced twice.
// Then another master is SIGKILLed and restarted with its data (append-only file): the same.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { keySlot, nodeKeys, poolKeys } from '../../lib/adapters/redis/cluster-keys'
import { Client, type Message } from '../helpers'
import { ServerProcess } from './procs'
import { redisMissing } from './redis'
import { RedisCluster, type ClusterNode } from './redis-cluster'
import { until } from './watch'
import { whenAvailable } from '../services'

/** No automatic failover during the test: the shard stays down until `takeover`. */
const NODE_TIMEOUT_MS = 60_000

whenAvailable(redisMissing(), 'one shard of a Redis Cluster lost', () => {
  let cluster: RedisCluster | undefined
  const procs: ServerProcess[] = []
  const clients: Client[] = []
  const prefix = `shard-${randomUUID()}:`
  /** A pool on the shard that also holds process 0's own keys (its liveness, its list of members). */
  let lostPool = ''
  /** A pool on another shard than lostPool's. */
  let keptPool = ''
  t.before(async () => {
    cluster = await RedisCluster.start({ nodeTimeout: NODE_TIMEOUT_MS, persist: true })
    for (let i = 0; i < 3; i++) procs.push(await ServerProcess.start({ cluster: cluster.nodes, prefix }))
  })
  t.teardown(async () => {
    for (const c of clients) c.ws.terminate()
    await Promise.all(procs.map((p) => p.stop()))
    await cluster?.stop()
  })

  const open = async (p: ServerProcess): Promise<Client> => {
    const c = await Client.open(`${p.url}/rtc`)
    clients.push(c)
    return c
  }
  /** One member of `pool` on each process; each has heard of the others. */
  const members = async (pool: string): Promise<Client[]> => {
    const cs: Client[] = []
    for (const p of procs) {
      const c = await open(p)
      await c.join(pool)
      for (const earlier of cs) await earlier.expect('rtc:peer')
      cs.push(c)
    }
    return cs
  }
  /** Each member sends `tag` to each other one; resolves true when every one arrived. */
  const relayed = async (cs: Client[], tag: string): Promise<boolean> => {
    for (const from of cs) for (const to of cs) if (to !== from) from.send('rtc:candidate', { for: to.id, candidate: { candidate: tag } })
    const got = (to: Client, from: Client) => (): boolean => to.received.some((m) => m.type === 'rtc:candidate' && m.data.from === from.id && m.data.candidate?.candidate === tag)
    const arrived = await Promise.all(cs.flatMap((to) => cs.filter((from) => from !== to).map((from) => until(to, got(to, from), 10_000))))
    return arrived.every(Boolean)
  }
  const slotOf = (pool: string): number => keySlot(poolKeys(prefix, pool).keys[0])
  /** Resolves once every process has logged one more line matching `pattern` than `seen` says. */
  const logged = async (pattern: string, seen: number[]): Promise<void> => {
    await Promise.all(procs.map((p, i) => p.call('waitLog', pattern, seen[i] + 1)))
  }
  const counts = async (pattern: string): Promise<number[]> => await Promise.all(procs.map(async (p) => (await p.call('logs', pattern)).length))
  /** True once `c` has been told of `id` (rtc:peer), whatever else came before. */
  const toldOf = (c: Client, id: string): Promise<boolean> => until(c, () => c.received.some((m) => m.type === 'rtc:peer' && m.data.id === id), 10_000)
  /** A new member joins `pool` on `p`: it is told of every member, each of them of it; it is added to `cs`. */
  const admitted = async (tt: Test, p: ServerProcess, pool: string, cs: Client[], what: string): Promise<void> => {
    const c = await open(p)
    const joined = await c.join(pool)
    tt.same(new Set(joined.peers), new Set(cs.map((m) => m.id)), `a join to ${what} is admitted and told of everyone`)
    tt.ok((await Promise.all(cs.map((m) => toldOf(m, c.id)))).every(Boolean), 'its members are told of it')
    cs.push(c)
  }
  const noneTwice = (tt: Test, cs: Client[], pool: string): void => {
    for (const c of cs) {
      tt.notOk(c.received.some((m: Message) => m.type === 'rtc:close'), `${pool}: no member was announced closed`)
      const peers = c.received.filter((m: Message) => m.type === 'rtc:peer').map((m: Message) => m.data.id)
      tt.equal(new Set(peers).size, peers.length, `${pool}: no member was announced twice`)
    }
  }

  t.test('a master down: pools on other shards admit joins and relay; its pools refuse joins, then come back resynced', async (tt) => {
    const c = cluster as RedisCluster
    const masters = (await c.topology()).filter((n) => n.master)
    const ownerOf = (pool: string): ClusterNode => masters.find((m) => m.slots.includes(slotOf(pool))) as ClusterNode
    const own = masters.find((m) => m.slots.includes(keySlot(nodeKeys(prefix, procs[0].node).members))) as ClusterNode
    for (let i = 0; lostPool === ''; i++) if (ownerOf(`doomed-${i}`) === own) lostPool = `doomed-${i}`
    for (let i = 0; keptPool === ''; i++) if (ownerOf(`kept-${i}`) !== ownerOf(lostPool)) keptPool = `kept-${i}`
    /** A pool on the same shard that nobody follows yet: a join there fails on the command (or subscription) itself. */
    let newPool = ''
    for (let i = 0; newPool === ''; i++) if (ownerOf(`new-${i}`) === ownerOf(lostPool)) newPool = `new-${i}`

    const lost = await members(lostPool)
    const kept = await members(keptPool)
    tt.ok(await relayed(lost, 'before'), 'relay between processes in both pools before the outage')
    tt.ok(await relayed(kept, 'before'))

    const { master, replica } = await c.killMaster(slotOf(lostPool))
    // Every process follows the lost pool (it has a member there): each notices at once (the
    // subscriber connection to the killed master closes).
    await logged('lost the Redis shard of', [0, 0, 0])

    tt.ok(await relayed(kept, 'during'), 'relay between processes in the pool on a healthy shard goes on')
    // On every process: process 0's own keys are on the lost shard, its join goes on all the same.
    for (const p of procs) await admitted(tt, p, keptPool, kept, 'a pool on a healthy shard')
    for (const p of procs) {
      for (const pool of [lostPool, newPool]) {
        const refused = await open(p)
        refused.send('rtc:join', { pool })
        tt.match(await refused.expect('rtc:error'), { reason: 'join-denied', pool }, `a join to ${pool === lostPool ? 'a' : 'a new'} pool on the lost shard is refused, on every process`)
      }
    }
    await tt.rejects(procs[1].call('describe', lost[1].id, { x: 1 }), { code: 'FST_RTC_REDIS_UNAVAILABLE' }, 'server calls on that pool throw the coded error')
    for (const p of procs) tt.same(await p.call('logs', 'rtc: lost Redis:'), [], 'no process took the whole cluster for lost')

    await c.takeover(replica, slotOf(lostPool))
    await logged('Redis shard back', [0, 0, 0])
    tt.comment(`master :${master.port} SIGKILLed, replica :${replica.port} promoted`)

    tt.ok(await relayed(lost, 'after'), 'relay between processes in the pool of the lost shard works again')
    await admitted(tt, procs[0], lostPool, lost, 'the pool of the lost shard')
    for (const cs of [lost, kept]) await Promise.all(cs.map((x) => x.sync()))
    noneTwice(tt, lost, lostPool)
    noneTwice(tt, kept, keptPool)
    for (const p of procs) {
      tt.same(new Set((await p.call('get', lostPool)).members.map((m: any) => m.id)), new Set(lost.map((m) => m.id)), 'membership of the lost shard\'s pool is intact on every process')
      const [back] = await p.call('logs', 'Redis shard back')
      tt.match(back, { pools: 1, readded: 0 }, 'only that pool was resynced, nobody re-added')
    }
  })

  t.test('a master SIGKILLed and restarted with its data: its pool refuses joins meanwhile, then is resynced and works', async (tt) => {
    const c = cluster as RedisCluster
    // A master that still has its replica (the first test's promoted one has none).
    const masters = (await c.topology()).filter((n) => n.master && n.slots.length > 0)
    const withReplica = (await c.topology()).filter((n) => !n.master).map((n) => n.of)
    let pool = ''
    for (let i = 0; pool === ''; i++) {
      const owner = masters.find((m) => m.slots.includes(slotOf(`revived-${i}`)))
      if (owner !== undefined && withReplica.includes(owner.id)) pool = `revived-${i}`
    }
    const cs = await members(pool)
    const lostBefore = await counts('lost the Redis shard of')
    const backBefore = await counts('Redis shard back')
    const { master } = await c.killMaster(slotOf(pool))
    await logged('lost the Redis shard of', lostBefore)
    const refused = await open(procs[1])
    refused.send('rtc:join', { pool })
    tt.match(await refused.expect('rtc:error'), { reason: 'join-denied', pool }, 'a join to its pool is refused while it is down')

    await c.restart(master, slotOf(pool))
    await logged('Redis shard back', backBefore)
    // The pools this process follows on that master (the first test's may be there too).
    const there = [lostPool, keptPool, pool].filter((p) => master.slots.includes(slotOf(p))).length
    tt.ok(await relayed(cs, 'after'), 'relay between processes in its pool works again')
    await admitted(tt, procs[1], pool, cs, 'its pool')
    await Promise.all(cs.map((x) => x.sync()))
    noneTwice(tt, cs, pool)
    for (const p of procs) {
      const lines = await p.call('logs', 'Redis shard back')
      tt.match(lines[lines.length - 1], { pools: there, readded: 0 }, 'only the pools of that shard were resynced, nobody re-added')
      tt.same(await p.call('logs', 'rtc: lost Redis:'), [], 'no process took the whole cluster for lost')
    }
  })
})
