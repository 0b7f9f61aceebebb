// One app process of a cluster in the browser tests (started with startExample, test/example-process.ts):
// the browser suite's server (app.ts) with its test page at /test, on the Redis at REDIS_URL (keys
// under REDIS_PREFIX), logging to stdout. SIGTERM drains it (fastify.close()) and exits.
import Fastify from 'fastify'
import { redisAdapter } from '../../lib/index'
import { page, serve } from './app'

/** Drain quickly: the test restarts each process and awaits its exit. */
const DRAIN = { windowMs: 200, deadlineMs: 5_000 }

async function main (): Promise<void> {
  const url = process.env.REDIS_URL
  if (url === undefined) throw new Error('REDIS_URL is not set')
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })
  await serve(app, {
    port: Number(process.env.PORT ?? 0),
    adapter: redisAdapter({ url, prefix: process.env.REDIS_PREFIX }),
    drain: DRAIN,
    routes: (app) => app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js')))
  })
  process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`)
  process.exit(1)
})
