// Redis loses its data: SIGKILLed while two processes relay across each other, restarted empty on
// the same port, after enough churn that its event counter is large. The loss must be noticed, the
// views rebuilt, and members who leave afterwards leave for good: no ghost in Redis or in a
// newcomer's rtc:joined, no rtc:peer for a leaver after its rtc:close, rule 9 on every client.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { joinSpread, rule9Violations } from '../adapter-contract'
import { Client } from '../helpers'
import { ServerProcess } from './procs'
import { RedisServer, redisMissing } from './redis'
import { knowsExactly, signalKnownPeers, trackPeers, until } from './watch'
import { whenAvailable } from '../services'

/** Events (joins and leaves) before the outage: far more than the cluster makes again after it. */
const CHURN_EVENTS = 1200
/** Clients per round of churn: with the four who stay, the default member limit (32). */
const CHURN_BATCH = 28

whenAvailable(redisMissing(), 'Redis data loss', () => {
  t.test('Redis restarted empty: the loss is noticed, views rebuilt, leavers leave for good', async (t) => {
    const redis = await RedisServer.start()
    t.teardown(() => redis.stop('SIGTERM'))
    const prefix = `loss-${randomUUID()}:`
    // One starts first, so it is the process that set the cluster's epoch (its first heartbeat).
    const one = await ServerProcess.start({ url: redis.url, prefix })
    const two = await ServerProcess.start({ url: redis.url, prefix })
    const clients: Client[] = []
    const stops: Array<() => void> = []
    t.teardown(async () => {
      for (const stop of stops) stop()
      for (const c of clients) c.ws.terminate()
      two.resume()
      await Promise.all([one.stop(), two.stop()])
    })
    const open = async (url: string): Promise<Client> => {
      const c = await Client.open(`${url}/rtc`)
      clients.push(c)
      return c
    }

    // Four members stay: a1 and a2 on process one, b1 and b2 on process two.
    const stayers = await joinSpread([one.url, two.url, one.url, two.url], 'lost', 4)
    clients.push(...stayers)
    const [a1, b1, a2, b2] = stayers
    const known = new Map(stayers.map((c) => [c, trackPeers(c)]))
    const others = (c: Client): string[] => stayers.filter((x) => x !== c).map((x) => x.id)

    // Churn (every join and every leave is one event) until the counter is large. A round is over
    // when a1 has seen each of its members leave.
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 })
    raw.on('error', () => {})
    t.teardown(() => raw.disconnect())
    const left = new Set<string>()
    a1.ws.on('message', (data) => {
      const m = JSON.parse(String(data))
      if (m.type === 'rtc:close') left.add(m.data.id)
    })
    let events = 0
    while (events < CHURN_EVENTS) {
      const batch = await Promise.all(Array.from({ length: CHURN_BATCH }, async (_, i) => await open(i % 2 === 0 ? one.url : two.url)))
      await Promise.all(batch.map(async (c) => await c.join('lost')))
      for (const c of batch) c.close()
      if (!(await until(a1, () => batch.every((c) => left.has(c.id))))) throw new Error('a churn round did not end')
      events = Number(await raw.get(`${prefix}seq`))
    }
    raw.disconnect()
    for (const c of stayers) t.ok(await until(c, () => knowsExactly(known.get(c) as Set<string>, others(c))), 'the churn has settled')
    t.comment(`event counter before the outage: ${events}`)

    // Cross-process relay runs from here to the leaves.
    for (const c of stayers) stops.push(signalKnownPeers(c))
    t.ok(await until(a1, () => a1.received.some((m) => m.type === 'rtc:candidate' && m.data.from === b1.id)), 'relay crosses processes')

    await redis.stop('SIGKILL')
    await Promise.all([one.call('waitLog', 'lost Redis'), two.call('waitLog', 'lost Redis')])
    // Process one (it set the epoch) resyncs first: the order in which the loss used to go unnoticed,
    // since one set its own epoch again and two read back the one it knew. Two is paused so that the
    // order does not depend on reconnection timers.
    two.pause()
    await redis.restart() // same port, empty
    await one.call('waitLog', 'Redis is back')
    two.resume()
    await two.call('waitLog', 'Redis is back')
    await Promise.all(stayers.map(async (c) => await c.sync())) // whatever the resyncs sent has arrived
    for (const c of stayers) {
      t.ok(await until(c, () => knowsExactly(known.get(c) as Set<string>, others(c))), 'each member knows the other three again')
    }
    for (const p of [one, two]) t.ok((await p.call('logs', 'Redis lost its data')).length >= 1, 'the log says Redis lost its data')

    // a1 (on one) and b1 (on two) leave.
    const mark = new Map(stayers.map((c) => [c, c.received.length]))
    a1.close()
    b1.close()
    for (const c of [a2, b2]) {
      const k = known.get(c) as Set<string>
      t.ok(await until(c, () => !k.has(a1.id) && !k.has(b1.id)), 'both leavers announced closed')
    }
    // Newcomers, one per process: told of live members only.
    const n1 = await open(one.url)
    t.same(new Set((await n1.join('lost')).peers), new Set([a2.id, b2.id]), 'a newcomer on process one is told of live members only')
    const n2 = await open(two.url)
    t.same(new Set((await n2.join('lost')).peers), new Set([a2.id, b2.id, n1.id]), 'a newcomer on process two is told of live members only')
    // Everything the cluster did before n2 joined has reached a2, b2 and n1 once they hear of n2.
    for (const c of [a2, b2, n1]) t.ok(await until(c, () => c.received.some((m) => m.type === 'rtc:peer' && m.data.id === n2.id)), 'n2 announced')
    for (const stop of stops) stop()

    for (const c of [a2, b2]) {
      const after = c.received.slice(mark.get(c))
      for (const leaver of [a1, b1]) {
        const closes = after.filter((m) => m.type === 'rtc:close' && m.data.id === leaver.id).length
        const peers = after.filter((m) => m.type === 'rtc:peer' && m.data.id === leaver.id).length
        t.same({ closes, peers }, { closes: 1, peers: 0 }, 'one rtc:close for a leaver, and no rtc:peer after it')
      }
    }
    for (const p of [one, two]) {
      const info = await p.call('get', 'lost')
      t.same(new Set(info?.members.map((m: { id: string }) => m.id)), new Set([a2.id, b2.id, n1.id, n2.id]), 'Redis holds the live members only: no ghost')
    }
    for (const c of clients) t.same(rule9Violations(c), [], `rule 9 for ${c.id}`)
  })
})
