// Shared set-up for the browser suite: Debian's Chromium through playwright-core, and a
// real server on an ephemeral port.

import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { Test } from 'tap'
import rtcSignal, { type RtcSignalOptions } from '../../lib/index'
import { registerAssets, registerDemo } from '../../lib/fastify/assets'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = join(__dirname, '..', 'artifacts')
export const FIXTURES = join(__dirname, 'fixtures')

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required'
]

/** True (after a loud message, and the file planned as skipped) when there is no Chromium to drive. */
export function chromiumMissing (t: Test): boolean {
  if (existsSync(CHROMIUM)) return false
  const why = `SKIPPING browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`
  console.error(`\n!!! ${why} !!!\n`)
  t.plan(0, why) // shows as skipped, with the reason
  return true
}

/** A fresh Chromium profile (removed afterwards) with fake camera and microphone. */
export async function launch (t: Test, viewport = { width: 1000, height: 700 }): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'rtc-signal-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport
  })
  t.teardown(async () => {
    await context.close().catch(() => {})
    await rm(profile, { recursive: true, force: true })
  })
  return context
}

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
 * The demo's server set-up (as example/server.ts): public pools, `?name=` → description,
 * `describe` application events set the sender's description. Listens on 127.0.0.1 (`port`, default any).
 */
export async function startServer (t: Test, opts: ServerOptions = {}): Promise<Server> {
  const { routes, port = 0, ...options } = opts
  const app = Fastify()
  t.teardown(() => app.close())
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

/**
 * Polls `check` in Node until it returns a truthy value, or fails after `timeout` ms with
 * the last value seen. For media statistics, which have no event to await.
 */
export async function until<T> (what: string, check: () => Promise<T>, timeout = 20_000, every = 250): Promise<T> {
  const end = Date.now() + timeout
  let last: T | undefined
  while (Date.now() < end) {
    last = await check()
    if (last) return last
    await new Promise((resolve) => setTimeout(resolve, every))
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(last)}`)
}

/** Opens `count` pages at `url`. */
export async function openPages (context: BrowserContext, url: string, count: number): Promise<Page[]> {
  const pages: Page[] = []
  for (let i = 0; i < count; i++) {
    const p = await context.newPage()
    p.on('pageerror', (err) => console.error(`[page ${i}] ${err.message}`))
    await p.goto(url)
    pages.push(p)
  }
  return pages
}

export async function artifactsDir (): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true })
  return ARTIFACTS
}

/**
 * Mean brightness (0-255) of the current frame of the `index`th element matching `selector`
 * (a video), drawn into a small canvas; -1 while it has no frame.
 */
export async function brightness (p: Page, selector: string, index = 0): Promise<number> {
  return await p.evaluate(([selector, index]) => {
    const document = (globalThis as any).document
    const video = document.querySelectorAll(selector)[index]
    if (video === undefined || video.videoWidth === 0) return -1
    const canvas = document.createElement('canvas')
    canvas.width = 64
    canvas.height = 48
    const context = canvas.getContext('2d', { willReadFrequently: true })
    context.drawImage(video, 0, 0, 64, 48)
    const data = context.getImageData(0, 0, 64, 48).data
    let sum = 0
    for (let i = 0; i < data.length; i += 4) sum += (data[i] + data[i + 1] + data[i + 2]) / 3
    return sum / (data.length / 4)
  }, [selector, index] as const)
}
