// A real cluster: one redis-server, three signalling server processes (three-processes.ts), and a
// restart of the Redis server.
import t from 'tap'
import { RedisServer, redisMissing } from './redis'
import { SDP, threeProcesses } from './three-processes'
import type { Client } from '../helpers'
import { whenAvailable } from '../services'

whenAvailable(redisMissing(), 'cluster of three processes on Redis', () => {
  let redis: RedisServer
  threeProcesses(t, {
    start: async () => { redis = await RedisServer.start() },
    stop: async () => { await redis?.stop('SIGTERM') },
    where: () => ({ url: redis.url })
  }, ({ procs, urls, open }) => {
    t.test('Redis restart survived: local service goes on, joins fail fast, members are re-announced', async (t) => {
      const [p0, p1, p2] = urls()
      const a = await open(p0)
      await a.join('storm')
      const a2 = await open(p0)
      await a2.join('storm')
      await a.expect('rtc:peer')
      const b = await open(p1)
      await b.join('storm')
      for (const x of [a, a2]) await x.expect('rtc:peer')

      await redis.stop('SIGKILL')
      // Local relay needs no Redis.
      a.send('rtc:sdp', { to: a2.id, description: SDP })
      t.same(await a2.expect('rtc:sdp'), { peer: a.id, description: SDP }, 'relay within a process goes on')
      // Once a process has noticed, a new join there is refused at once, with a message saying why.
      await procs[2].call('waitLog', 'lost Redis')
      const x = await open(p2)
      x.send('rtc:join', { pool: 'storm' })
      t.match(await x.next(), { type: 'rtc:error', data: { reason: 'join-denied', message: /Redis/ } }, 'join refused with join-denied while Redis is down')
      x.close()
      a.send('rtc:candidate', { for: b.id, candidate: null }) // dropped (no Redis), must not crash anything

      await redis.restart() // same port, empty data set
      // Every process re-announces its members. Peers on other processes see them close and join
      // again (Redis had forgotten them); nothing is ever named before it is announced (rule 9).
      const announcedAgain = async (c: Client, ids: string[]): Promise<void> => {
        const seen = new Set<string>()
        while (ids.some((id) => !seen.has(id))) {
          const m = await c.next(20_000)
          if (m.type === 'rtc:peer') seen.add(m.data.id)
        }
      }
      await announcedAgain(b, [a.id, a2.id])
      await announcedAgain(a, [b.id])
      await announcedAgain(a2, [b.id])
      t.pass('members of each process announced again to the others')
      // Process 2 has no member here, so nothing above waited for it: it answers once it has resynced.
      await procs[2].call('waitLog', 'Redis is back')
      const info = await procs[2].call('get', 'storm')
      t.same(new Set(info.members.map((m: any) => m.id)), new Set([a.id, a2.id, b.id]), 'Redis knows every member again')
      // The cluster works again: relay across processes, and a new member joining on a third process.
      b.send('rtc:sdp', { to: a.id, description: SDP })
      t.match(await a.next(), { type: 'rtc:sdp', data: { peer: b.id } })
      const c = await open(p2)
      const joined = await c.join('storm')
      t.same(new Set(joined.peers), new Set([a.id, a2.id, b.id]))
      c.send('rtc:sdp', { to: b.id, description: SDP })
      let m
      do m = await b.next(); while (m.type !== 'rtc:sdp')
      t.equal(m.data.peer, c.id)
      for (const p of procs.slice(0, 3)) {
        const lost = await p.call('logs', 'lost Redis')
        t.equal(lost.length, 1, 'the outage is logged once per process')
        t.ok((await p.call('logs', 'Redis is back')).length >= 1, 'and its end')
      }
    })
  })
})
