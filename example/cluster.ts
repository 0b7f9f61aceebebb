// Several signalling processes on one Redis: one cluster, where a pool's members may be connected
// to any process.
//
//   REDIS_URL=redis://127.0.0.1:6379 WORKERS=4 PORT=7000 node --import tsx example/cluster.ts
//
// Worker i listens on PORT + i (7000, 7001, ...), each its own process with its own Fastify app,
// all registered with `adapter: redisAdapter({ url })`. Open http://localhost:7000/lobby and
// http://localhost:7001/lobby: the two pages are in the same pool although they talk to
// different processes.
//
// Putting a load balancer in front: no sticky sessions are needed. A signalling connection is one
// long-lived WebSocket; whichever process accepts it serves it for its whole life, and Redis
// carries everything between processes. Any TCP/HTTP balancer that passes WebSocket upgrades
// works, e.g. nginx:
//
//   upstream rtc { least_conn; server 127.0.0.1:7000; server 127.0.0.1:7001; server 127.0.0.1:7002; server 127.0.0.1:7003; }
//   server {
//     listen 443 ssl;
//     location / {
//       proxy_pass http://rtc;
//       proxy_http_version 1.1;
//       proxy_set_header Upgrade $http_upgrade;
//       proxy_set_header Connection "upgrade";
//       proxy_read_timeout 120s;   # longer than the plugin's heartbeat (30 s)
//     }
//   }
//
// (`least_conn` spreads long-lived connections better than round robin.) On several machines, run
// this (or your own server) on each with the same REDIS_URL; the processes find each other through Redis.
//
// Instead of one port per process you can let node:cluster share one port (cluster.isPrimary forks,
// workers all listen on PORT): the primary hands each new connection to a worker, which is all
// the cluster needs, since no connection has to land on a particular process.

import cluster from 'node:cluster'
import Fastify from 'fastify'
import rtcSignal, { redisAdapter } from '../lib/index'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const WORKERS = Number(process.env.WORKERS ?? 2)
const BASE_PORT = Number(process.env.PORT ?? 7000)
/** The load balancer of the comment above runs on this machine; HOST=0.0.0.0 when it does not. */
const HOST = process.env.HOST ?? '127.0.0.1'
const MAX_NAME_LENGTH = 40

function cleanName (value: unknown): string {
  const name = typeof value === 'string' ? value.trim().slice(0, MAX_NAME_LENGTH) : ''
  return name === '' ? 'guest' : name
}

async function worker (index: number): Promise<void> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })
  await app.register(rtcSignal, {
    privatePools: false,
    demo: true,
    // Runs on the process the browser connected to; give every process the same hook.
    joinHook: async (request) => ({ description: { name: cleanName((request.query as Record<string, unknown>).name) } }),
    adapter: redisAdapter({ url: REDIS_URL })
  })
  app.rtcPools.on('event', ({ endpoint, type, data }) => {
    if (type !== 'describe') return
    // describe() works for a member of any process; its peers everywhere get rtc:describe.
    app.rtcPools.describe(endpoint.id, { ...data, name: cleanName(data.name) }).catch((err: unknown) => {
      app.log.warn({ err, peer: endpoint.id }, 'describe failed')
    })
  })
  const port = BASE_PORT + index
  await app.listen({ port, host: HOST })
  app.log.info(`worker ${index} (node ${app.rtcPools.node}): http://localhost:${port}/lobby`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // A clean close leaves the cluster at once (peers elsewhere get rtc:close now, not after the TTL).
    process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  }
}

if (cluster.isPrimary) {
  process.stdout.write(`starting ${WORKERS} signalling processes on ${REDIS_URL}, ports ${BASE_PORT}..${BASE_PORT + WORKERS - 1}\n`)
  for (let i = 0; i < WORKERS; i++) cluster.fork({ RTC_WORKER_INDEX: String(i) })
  cluster.on('exit', (w, code, signal) => {
    // After a crash, the other processes remove its members within the TTL (10 s by default).
    if (code !== 0) process.stderr.write(`worker ${w.process.pid} died (${signal ?? code}); its members are removed by the others within the TTL\n`)
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(signal) })
  }
} else {
  worker(Number(process.env.RTC_WORKER_INDEX ?? 0)).catch((err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`)
    process.exit(1)
  })
}
