// The adapter contract on the Redis adapter in cluster mode: two apps in this process share one
// Redis Cluster (three masters, a replica each), clients spread over both, so every pool spans two
// nodes and the pools spread over the shards. (Separate processes: cluster-sharded.test.ts.)
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { redisAdapter } from '../../lib/index'
import { adapterContract } from '../adapter-contract'
import { listen } from '../helpers'
import { announceSkip, redisMissing } from './redis'
import { RedisCluster } from './redis-cluster'

const missing = redisMissing()
if (missing !== null) {
  announceSkip(missing)
  t.test('Redis adapter contract in cluster mode', { skip: missing }, async () => {})
} else {
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
}
