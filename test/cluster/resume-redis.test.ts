// Resume with the Redis adapter: two apps in this process share one redis-server, the resumable
// member on one, its peer on the other. In this version a suspended member lives on its process.
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import t from 'tap'
import { redisAdapter } from '../../lib/index'
import { Client, listen } from '../helpers'
import { RedisServer, redisMissing } from './redis'
import { whenAvailable } from '../services'

whenAvailable(redisMissing(), 'resume over Redis', () => {
  let redis: RedisServer | undefined
  t.before(async () => { redis = await RedisServer.start() })
  t.teardown(() => redis?.stop('SIGTERM'))

  const pair = async (tt: Tap, graceMs = 20_000) => {
    const url = (redis as RedisServer).url
    const prefix = `resume-${randomUUID()}:`
    const opts = { privatePools: false, heartbeatInterval: 0, resume: { graceMs } }
    const one = await listen(tt, { ...opts, adapter: redisAdapter({ url, prefix }) })
    const two = await listen(tt, { ...opts, adapter: redisAdapter({ url, prefix }) })
    const b = await Client.open(`${two.url}/rtc`)
    await b.join('p')
    const a = await Client.open(`${one.url}/rtc`)
    a.send('rtc:join', { pool: 'p', resume: true })
    const joined = await a.expect('rtc:joined')
    a.id = joined.client_id
    await b.expect('rtc:peer')
    return { one, two, a, b, token: joined.resume.token as string }
  }

  t.test('frames relayed from another process while suspended are held and replayed on resume; the peer sees nothing', async (tt) => {
    const { one, a, b, token } = await pair(tt)
    const suspended = one.app.rtcPools.once('suspend')
    ;(a.ws as unknown as { _socket: Socket })._socket.destroy()
    await suspended
    t.match((await one.app.rtcPools.get('p'))?.members.find((m) => m.id === a.id), { state: 'suspended' })
    for (let i = 0; i < 5; i++) b.send('rtc:candidate', { for: a.id, candidate: { i } })
    t.same(await b.sync(), [], 'relayed without a refusal, and no rtc:close')
    const c = await Client.open(`${one.url}/rtc`)
    c.send('rtc:resume', { token, received: 0 })
    t.equal((await c.expect('rtc:resumed')).client_id, a.id)
    for (let i = 0; i < 5; i++) t.same(await c.expect('rtc:candidate'), { from: b.id, candidate: { i } })
    c.send('rtc:candidate', { for: b.id, candidate: { back: true } })
    t.same(await b.expect('rtc:candidate'), { from: a.id, candidate: { back: true } }, 'live again, both ways')
    t.same(await c.sync(), [])
  })

  t.test('a resume on another process is resume-failed; the suspended member leaves after its grace period (one rtc:close)', async (tt) => {
    const { one, two, a, b, token } = await pair(tt, 300)
    const suspended = one.app.rtcPools.once('suspend')
    ;(a.ws as unknown as { _socket: Socket })._socket.destroy()
    await suspended
    const c = await Client.open(`${two.url}/rtc`)
    c.send('rtc:resume', { token, received: 0 })
    t.match(await c.next(), { type: 'rtc:error', data: { reason: 'resume-failed' } })
    t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id })
    t.same(await b.sync(), [], 'exactly one')
  })
})

type Tap = Parameters<typeof listen>[0]
