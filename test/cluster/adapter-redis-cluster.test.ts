// The adapter contract on the Redis adapter in cluster mode: two apps in this process share one
// Redis Cluster (three masters, a replica each), clients spread over both, so every pool spans two
// nodes and the pools spread over the shards. (Separate processes: cluster-sharded.test.ts.)
import { randomUUID } from 'node:crypto'
import { Cluster } from 'ioredis'
import t from 'tap'
import { redisAdapter } from '../../lib/index'
import { adapterContract } from '../adapter-contract'
import { Client, listen } from '../helpers'
import { freePort, redisMissing } from './redis'
import { RedisCluster } from './redis-cluster'
import { whenAvailable } from '../services'

whenAvailable(redisMissing(), 'Redis adapter contract in cluster mode', () => {
  let cluster: RedisCluster | undefined
  t.before(async () => { cluster = await RedisCluster.start() })
  t.teardown(() => cluster?.stop())
  adapterContract('redis adapter (cluster)', async (tt, opts) => {
    const nodes = (cluster as RedisCluster).nodes
    const prefix = `contract-${randomUUID()}:` // each test its own signalling cluster on the shared Redis Cluster
    const one = await listen(tt, { ...opts, adapter: redisAdapter({ cluster: nodes, prefix }) })
    const two = await listen(tt, { ...opts, adapter: redisAdapter({ cluster: nodes, prefix }) })
    return { apps: [one.app, two.app], urls: [one.url, two.url] }
  })

  t.test('cluster options are validated when redisAdapter() is called', async (t) => {
    for (const cluster of [[], [{ host: '', port: 7000 }], [{ host: 'h', port: 0 }], [{ host: 'h', port: 70000 }], [{ host: 'h' }], 'h:7000', [null]]) {
      t.throws(() => redisAdapter({ cluster: cluster as never }), { code: 'FST_RTC_INVALID_OPTION' }, JSON.stringify(cluster))
    }
    const nodes = [{ host: '127.0.0.1', port: 7000 }]
    t.throws(() => redisAdapter({ cluster: nodes, url: 'redis://127.0.0.1' }), { code: 'FST_RTC_INVALID_OPTION' }, 'cluster and url')
    t.throws(() => redisAdapter({ cluster: nodes, prefix: 'a{b}:' }), { code: 'FST_RTC_INVALID_OPTION' }, 'a brace in the prefix would change the slots')
  })

  t.test('no Redis Cluster at startup: registration fails after connectTimeout', async (t) => {
    const port = await freePort() // nobody listens there
    const err = await listen(t, { adapter: redisAdapter({ cluster: [{ host: '127.0.0.1', port }], connectTimeout: 500 }) }).then(() => null, (e: Error) => e)
    t.match(err, { code: 'FST_RTC_REDIS_UNAVAILABLE', statusCode: 503 })
  })

  t.test('an ioredis Cluster given as client: cluster mode; the client stays the caller\'s', async (t) => {
    const client = new Cluster((cluster as RedisCluster).nodes, { enableOfflineQueue: false, retryDelayOnFailover: 0, retryDelayOnClusterDown: 0, redisOptions: { maxRetriesPerRequest: 0 } })
    t.teardown(() => client.disconnect())
    const prefix = `given-${randomUUID()}:`
    const one = await listen(t, { privatePools: false, adapter: redisAdapter({ client, prefix }) })
    const two = await listen(t, { privatePools: false, adapter: redisAdapter({ cluster: (cluster as RedisCluster).nodes, prefix }) })
    const a = await Client.open(`${one.url}/rtc`)
    const b = await Client.open(`${two.url}/rtc`)
    t.teardown(() => { a.ws.terminate(); b.ws.terminate() })
    await a.join('given')
    await b.join('given')
    t.equal((await a.expect('rtc:peer')).id, b.id)
    b.send('rtc:candidate', { for: a.id, candidate: null })
    t.same(await a.expect('rtc:candidate'), { from: b.id, candidate: null })
    await one.app.close()
    t.same(await b.expect('rtc:close'), { id: a.id, uid: a.id }, 'a clean close leaves the cluster at once')
    t.equal(client.status, 'ready', 'the given client is the caller\'s to close')
  })
})
