// The one-port demo: `npm start`, then open http://localhost:7000/<any-pool-name> in two tabs.
// One Fastify process serves the signalling WebSocket (/rtc), the browser client
// (/rtc/client.js) and the video-call page (/:pool).
//
// ICE servers for callers behind NAT (README, "NAT traversal"), from the environment:
//   STUN_URL     e.g. stun:turn.example.org:3478 (comma-separated for several)
//   TURN_URL     e.g. turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349
//   TURN_SECRET  coturn's static-auth-secret (use-auth-secret): each member gets its own credential
//                (or TURN_SECRET_FILE: a file holding it, one secret per line)
//   TURN_TTL     credential lifetime in seconds (default 3600, at least 60)

import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import rtcSignal from '../lib/index'
import { iceConfigFromEnv } from '../lib/cli/args'
import { describeIceServers, iceServersOption } from '../lib/cli/ice'
import { metricsRoute } from '../lib/cli/serve'

const DEFAULT_PORT = 7000
/** This machine only; HOST=0.0.0.0 opens the demo to the network. */
const DEFAULT_HOST = '127.0.0.1'
const MAX_NAME_LENGTH = 40

/** A display name from untrusted input: a string, trimmed, at most 40 characters. */
function cleanName (value: unknown): string {
  const name = typeof value === 'string' ? value.trim().slice(0, MAX_NAME_LENGTH) : ''
  return name === '' ? 'guest' : name
}

async function main (): Promise<void> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })
  // The same variables, checks and secret file as the CLI's --stun / --turn-* flags.
  const iceServers = iceServersOption(iceConfigFromEnv(process.env))
  // URLs only: the secret stays out of the log.
  app.log.info({ ice: describeIceServers(iceServers) }, 'ICE servers for the members')

  await app.register(rtcSignal, {
    prefix: '/rtc',
    privatePools: false, // pools are created on first join, as with `python -m pyrtc.test`
    demo: true,
    // Runs before each join: the page connects to /rtc?name=Ada, and the name becomes
    // the member's description, which every peer receives.
    joinHook: async (request) => {
      const query = request.query as Record<string, unknown>
      return { description: { name: cleanName(query.name) } }
    },
    iceServers,
    // Prometheus metrics at /metrics (prom-client is a devDependency of this repository), as
    // `fastify-rtc-signal --metrics` serves them: the plugin's rtc_signal_* and Node's process_*.
    metrics: await metricsRoute(app)
  })

  // Application events: any frame whose type does not start with `rtc:`. Like the seed's
  // reference server, a member may set its own description with a `describe` event
  // (the demo sends { name, mic, cam }); the others get `rtc:describe`. Descriptions are
  // what peers trust, so only the fields the page uses are kept, checked.
  app.rtcPools.on('event', ({ endpoint, type, data }) => {
    if (type !== 'describe') return
    const description = { name: cleanName(data.name), mic: data.mic !== false, cam: data.cam !== false }
    app.rtcPools.describe(endpoint.id, description).catch((err: unknown) => {
      app.log.warn({ err, peer: endpoint.id }, 'describe failed')
    })
  })

  const port = Number(process.env.PORT ?? DEFAULT_PORT)
  const host = process.env.HOST ?? DEFAULT_HOST
  await app.listen({ port, host })
  const { port: listening } = app.server.address() as AddressInfo // PORT=0: the port the system chose
  app.log.info(`demo: open http://localhost:${listening}/lobby in two tabs; metrics at http://localhost:${listening}/metrics`)

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`)
  process.exit(1)
})
