// Resume over a Redis Cluster (three masters, a replica each; the suite: resume-suite.ts): the
// token records, the claim and the moved event live in the pool's slot.
import t from 'tap'
import { redisAdapter } from '../../lib/index'
import { redisMissing } from './redis'
import { RedisCluster } from './redis-cluster'
import { resumeSuite } from './resume-suite'
import { whenAvailable } from '../services'

whenAvailable(redisMissing(), 'resume over Redis Cluster', () => {
  let cluster: RedisCluster | undefined
  t.before(async () => { cluster = await RedisCluster.start() })
  t.teardown(() => cluster?.stop())
  resumeSuite(() => {
    const nodes = (cluster as RedisCluster).nodes
    return {
      adapter: (prefix, ttl) => redisAdapter({ cluster: nodes, prefix, ttl }),
      process: (prefix, ttl) => ({ cluster: nodes, prefix, ttl })
    }
  })
})
