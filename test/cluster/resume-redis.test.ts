// Resume over one redis-server (the suite: resume-suite.ts).
import t from 'tap'
import { redisAdapter } from '../../lib/index'
import { RedisServer, redisMissing } from './redis'
import { resumeSuite } from './resume-suite'
import { whenAvailable } from '../services'

whenAvailable(redisMissing(), 'resume over Redis', () => {
  let redis: RedisServer | undefined
  t.before(async () => { redis = await RedisServer.start() })
  t.teardown(() => redis?.stop('SIGTERM'))
  resumeSuite(() => {
    const url = (redis as RedisServer).url
    return {
      adapter: (prefix, ttl) => redisAdapter({ url, prefix, ttl }),
      process: (prefix, ttl) => ({ url, prefix, ttl })
    }
  })
})
