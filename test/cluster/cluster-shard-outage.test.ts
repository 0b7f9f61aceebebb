// One shard of a Redis Cluster down, the others fine (issue 14: "the existing outage semantics hold
// per shard"): three signalling server processes, a pool on the shard that goes down and a pool on
// another. The master of the first is SIGKILLed with a node timeout long enough that no replica is
// promoted meanwhile: the pool on the healthy shard keeps admitting joins and relaying between
// processes, the pool on the lost shard refuses joins (join-denied); then its replica is promoted
// (CLUSTER FAILOVER TAKEOVER) and only that pool is resynced: it works again, nobody announced twice.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { keySlot, poolKeys } from '../../lib/adapters/redis/cluster-keys'
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
  t.before(async () => {
    cluster = await RedisCluster.start({ nodeTimeout: NODE_TIMEOUT_MS })
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
  /** True once `c` has been told of `id` (rtc:peer), whatever else came before. */
  const toldOf = (c: Client, id: string): Promise<boolean> => until(c, () => c.received.some((m) => m.type === 'rtc:peer' && m.data.id === id), 10_000)
  const noneTwice = (tt: Test, cs: Client[], pool: string): void => {
    for (const c of cs) {
      tt.notOk(c.received.some((m: Message) => m.type === 'rtc:close'), `${pool}: no member was announced closed`)
      const peers = c.received.filter((m: Message) => m.type === 'rtc:peer').map((m: Message) => m.data.id)
      tt.equal(new Set(peers).size, peers.length, `${pool}: no member was announced twice`)
    }
  }

  t.test('a master down: pools on other shards admit joins and relay; its pools refuse joins, then come back resynced', async (tt) => {
    const c = cluster as RedisCluster
    const slotOf = (pool: string): number => keySlot(poolKeys(prefix, pool).keys[0])
    const masters = (await c.topology()).filter((n) => n.master)
    const ownerOf = (pool: string): ClusterNode => masters.find((m) => m.slots.includes(slotOf(pool))) as ClusterNode
    const lostPool = 'doomed'
    let keptPool = ''
    for (let i = 0; keptPool === ''; i++) if (ownerOf(`kept-${i}`) !== ownerOf(lostPool)) keptPool = `kept-${i}`

    const lost = await members(lostPool)
    const kept = await members(keptPool)
    tt.ok(await relayed(lost, 'before'), 'relay between processes in both pools before the outage')
    tt.ok(await relayed(kept, 'before'))

    const { master, replica } = await c.killMaster(slotOf(lostPool))
    // Every process follows the lost pool (it has a member there): each notices at once (the
    // subscriber connection to the killed master closes).
    await Promise.all(procs.map((p) => p.call('waitLog', 'lost the Redis shard of')))

    tt.ok(await relayed(kept, 'during'), 'relay between processes in the pool on a healthy shard goes on')
    const late = await open(procs[2])
    const joined = await late.join(keptPool)
    tt.same(new Set(joined.peers), new Set(kept.map((k) => k.id)), 'a join to a pool on a healthy shard is admitted and told of everyone')
    tt.ok((await Promise.all(kept.map((k) => toldOf(k, late.id)))).every(Boolean), 'its members are told of it')
    kept.push(late)

    const refused = await open(procs[0])
    refused.send('rtc:join', { pool: lostPool })
    tt.match(await refused.expect('rtc:error'), { reason: 'join-denied', pool: lostPool }, 'a join to a pool on the lost shard is refused')
    const other = await open(procs[1])
    other.send('rtc:join', { pool: lostPool })
    tt.match(await other.expect('rtc:error'), { reason: 'join-denied' }, 'on every process')
    await tt.rejects(procs[1].call('describe', lost[1].id, { x: 1 }), { code: 'FST_RTC_REDIS_UNAVAILABLE' }, 'server calls on that pool throw the coded error')
    for (const p of procs) tt.same(await p.call('logs', 'rtc: lost Redis:'), [], 'no process took the whole cluster for lost')

    await c.takeover(replica, slotOf(lostPool))
    await Promise.all(procs.map((p) => p.call('waitLog', 'Redis shard back')))
    tt.comment(`master :${master.port} SIGKILLed, replica :${replica.port} promoted`)

    tt.ok(await relayed(lost, 'after'), 'relay between processes in the pool of the lost shard works again')
    const again = await open(procs[0])
    const rejoined = await again.join(lostPool)
    tt.same(new Set(rejoined.peers), new Set(lost.map((m) => m.id)), 'a join to it is admitted and told of everyone')
    tt.ok((await Promise.all(lost.map((m) => toldOf(m, again.id)))).every(Boolean), 'its members are told of it')
    lost.push(again)
    for (const cs of [lost, kept]) await Promise.all(cs.map((x) => x.sync()))
    noneTwice(tt, lost, lostPool)
    noneTwice(tt, kept, keptPool)
    for (const p of procs) {
      tt.same(new Set((await p.call('get', lostPool)).members.map((m: any) => m.id)), new Set(lost.map((m) => m.id)), 'membership of the lost shard\'s pool is intact on every process')
      const [back] = await p.call('logs', 'Redis shard back')
      tt.match(back, { pools: 1 }, 'only that pool was resynced')
    }
  })
})
