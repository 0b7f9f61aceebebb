// The browser suite's server app (startServer in helpers.ts; a process of its own in
// cluster-process.ts): the demo's set-up plus the test pages' scripts. No Playwright here.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import rtcSignal, { type RtcSignalOptions } from '../../lib/index'
import { registerAssets, registerDemo } from '../../lib/fastify/assets'

export const FIXTURES = join(__dirname, 'fixtures')

export interface Server {
  app: FastifyInstance
  /** http://127.0.0.1:port */
  origin: string
  /** ws://127.0.0.1:port/rtc */
  ws: string
}

export interface ServerOptions extends Partial<RtcSignalOptions> {
  /** Extra routes (test pages), registered before listen. */
  routes?: (app: FastifyInstance) => void
  /** The port to listen on (default: any free one), e.g. to restart a server where it was. */
  port?: number
}

/**
 * The demo's server set-up (as example/server.ts) on `app`: public pools, `?name=` → description,
 * `describe` application events set the sender's description, and /test/harness.js. Listens on
 * 127.0.0.1 (`port`, default any).
 */
export async function serve (app: FastifyInstance, opts: ServerOptions = {}): Promise<Server> {
  const { routes, port = 0, ...options } = opts
  await app.register(rtcSignal, {
    prefix: '/rtc',
    privatePools: false,
    joinHook: async (request) => {
      const name = (request.query as Record<string, unknown>).name
      if (name === 'blocked') return false
      return { description: { name: typeof name === 'string' ? name.slice(0, 40) : 'guest' } }
    },
    ...options
  })
  // Until lib/routes.ts serves the bundle and the demo itself, register them here.
  await app.after()
  if (!app.hasRoute({ method: 'GET', url: '/rtc/client.js' })) {
    await app.register(async (child) => registerAssets(child, { demo: options.demo === true, prefix: '/rtc' }), { prefix: '/rtc' })
  }
  if (options.demo === true && !app.hasRoute({ method: 'GET', url: '/:pool' })) {
    await app.register(async (child) => registerDemo(child, { base: '', prefix: '/rtc' }))
  }
  app.rtcPools.on('event', ({ endpoint, type, data }) => {
    if (type === 'describe') app.rtcPools.describe(endpoint.id, data).catch(() => {})
  })
  app.get('/test/harness.js', async (_request, reply) => reply.type('text/javascript').send(readFileSync(join(FIXTURES, 'harness.js'))))
  routes?.(app)
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const origin = `http://127.0.0.1:${address.port}`
  return { app, origin, ws: `ws://127.0.0.1:${address.port}/rtc` }
}

/** An HTML page that loads the given scripts in order. */
export function page (...scripts: string[]): string {
  return '<!doctype html><meta charset="utf-8"><title>test</title><body>' +
    scripts.map((src) => `<script src="${src}"></script>`).join('') + '</body>'
}
