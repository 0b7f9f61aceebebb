// Shared set-up for the browser suite: Debian's Chromium through playwright-core, and a
// real server on an ephemeral port.

import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { FIXTURES, page, serve, type Server, type ServerOptions } from './app'

export { FIXTURES, page, type Server, type ServerOptions }

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = join(__dirname, '..', 'artifacts')

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

/**
 * The demo's server set-up (app.ts `serve`) on a fresh Fastify, closed at the end of `t`.
 * Listens on 127.0.0.1 (`port`, default any).
 */
export async function startServer (t: Test, opts: ServerOptions = {}): Promise<Server> {
  const app = Fastify()
  t.teardown(() => app.close())
  return await serve(app, opts)
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
