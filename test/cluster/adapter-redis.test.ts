// The adapter contract on the Redis adapter: two apps in this process share one redis-server, and
// clients are spread over both, so every pool spans two nodes. (Real separate processes: cluster.test.ts.)
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { redisAdapter } from '../../lib/index'
import { adapterContract } from '../adapter-contract'
import { listen } from '../helpers'
import { RedisServer, redisMissing } from './redis'
import { whenAvailable } from '../services'

whenAvailable(redisMissing(), 'Redis adapter contract', () => {
  let redis: RedisServer | undefined
  t.before(async () => { redis = await RedisServer.start() })
  t.teardown(() => redis?.stop('SIGTERM'))
  adapterContract('redis adapter', async (tt, opts) => {
    const url = (redis as RedisServer).url
    const prefix = `contract-${randomUUID()}:` // each test its own cluster on the shared server
    const one = await listen(tt, { ...opts, adapter: redisAdapter({ url, prefix }) })
    const two = await listen(tt, { ...opts, adapter: redisAdapter({ url, prefix }) })
    return { apps: [one.app, two.app], urls: [one.url, two.url] }
  })
})
