// Assertions shared by the client and rtcpool tests: pages driven through fixtures/harness.js.

import type { Page } from 'playwright-core'
import type { Test } from 'tap'
import { until } from './helpers'

/** Joins `pool` from every page with the library at global `lib` (options: see fixtures/harness.js); returns their ids. */
export async function joinAll (pages: Page[], lib: string, url: string, pool: string, options: { mediaAfterOffers?: boolean, signalling?: Record<string, unknown> } = {}): Promise<string[]> {
  const ids: string[] = []
  // One after another: join order decides who is polite; both orders are exercised by three pages.
  for (const p of pages) {
    ids.push(await p.evaluate(([lib, url, pool, options]) => (globalThis as any).harness.start((globalThis as any)[lib], url, pool, options), [lib, url, pool, options] as const))
  }
  return ids
}

export async function bytes (p: Page, peer: string, kind: 'audio' | 'video'): Promise<number> {
  return await p.evaluate(([peer, kind]) => (globalThis as any).harness.bytes(peer, kind), [peer, kind])
}

/** Waits until every page receives increasing audio and video bytes from every other page. */
export async function assertLiveMedia (t: Test, pages: Page[], ids: string[], timeout = 30_000, names = pages.map((_, i) => `page ${i}`)): Promise<void> {
  for (const [i, p] of pages.entries()) {
    for (const [j, peer] of ids.entries()) {
      if (i === j) continue
      for (const kind of ['audio', 'video'] as const) {
        const first = await until(`${names[i]} to receive ${kind} from ${names[j]}`, async () => await bytes(p, peer, kind), timeout)
        const later = await until(`${kind} bytes from ${names[j]} to grow at ${names[i]}`, async () => {
          const now = await bytes(p, peer, kind)
          return now > first ? now : 0
        }, timeout)
        t.ok(later > first, `${names[i]} receives live ${kind} from ${names[j]} (${first} → ${later} bytes)`)
      }
    }
  }
}

/** Every page opens a data channel to every other page and gets its message echoed. */
export async function assertDataChannels (t: Test, pages: Page[], ids: string[]): Promise<void> {
  for (const [i, p] of pages.entries()) {
    for (const [j, peer] of ids.entries()) {
      if (i === j) continue
      const ok = await p.evaluate((peer) => (globalThis as any).harness.ping(peer), peer)
      t.equal(ok, true, `data channel round trip page ${i} → page ${j} → page ${i}`)
    }
  }
}
