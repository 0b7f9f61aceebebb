// A rolling restart that nobody in the call notices (issue 11): two app processes on one Redis
// behind a TCP load balancer (tcp-proxy.ts), three Chromium pages in a call with live media, loaded
// from and connected through the balancer. Each process in turn is taken out of the balancer and
// SIGTERMed: it drains (1012 to its sockets), its pages reconnect through the balancer to the other
// process and resume there; it is started again (a new port) and put back. Across both restarts:
// media keeps flowing on every pair, no RTCPeerConnection is made, no page sees rtc:close or
// rtc:peer, and every page that was moved resumed (same id) instead of rejoining.

import { randomUUID } from 'node:crypto'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { startExample, type ExampleProcess } from '../example-process'
import { RedisServer, redisMissing } from '../cluster/redis'
import { whenAvailable } from '../services'
import { chromiumMissing, launch, openPages, until } from './helpers'
import { assertLiveMedia, joinAll } from './mesh'
import { countConnections, record, seen } from './resume-log'
import { TcpProxy } from './tcp-proxy'

const NAMES = ['ada', 'grace', 'linus']
/** The client's reconnection after a drop; after a 1012 it first waits a random time up to 2 s anyway. */
const SIGNALLING = { reconnect: { minDelay: 50, maxDelay: 500 } }

/** What a page's signalling socket went through since record(): its closes and how each ended. */
async function drops (p: Page): Promise<{ codes: number[], resumed: number, rejoined: number }> {
  return await p.evaluate(() => {
    const log = (globalThis as any).resumeLog
    return { codes: log.disconnects.map((d: { code: number }) => d.code), resumed: log.resumed.length, rejoined: log.rejoined.length }
  })
}

/** The current id of each page's pool (a rejoin changes it). */
async function currentIds (pages: Page[]): Promise<string[]> {
  return await Promise.all(pages.map(async (p) => await p.evaluate(() => (globalThis as any).harness.state.pool.id as string)))
}

whenAvailable(redisMissing(), 'browser: a rolling restart of two processes on Redis behind a load balancer', () => {
  if (chromiumMissing(t)) return
  t.setTimeout(120_000)

  t.test('three pages in a call; each process restarted in turn behind the balancer: the call never drops', async (t) => {
    const redis = await RedisServer.start()
    t.teardown(() => redis.stop('SIGTERM'))
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `rolling-${randomUUID()}:` }
    const start = async (): Promise<ExampleProcess> => await startExample(t, env, 'test/browser/cluster-process.ts')
    const procs = await Promise.all([start(), start()])
    const proxy = await TcpProxy.start([procs[0].port])
    t.teardown(() => proxy.close())
    const context = await launch(t)
    await countConnections(context)

    // ada and grace come in through process 0, linus through process 1: the call spans both, and
    // each restart moves pages (0: ada and grace to process 1; then 1: all three to the new 0).
    const pages = await openPages(context, `http://127.0.0.1:${proxy.port}/test`, 3)
    const ids: string[] = []
    for (const [i, p] of pages.entries()) {
      if (i === 2) proxy.setBackends([procs[1].port])
      ids.push(...await joinAll([p], 'RtcSignal', `ws://127.0.0.1:${proxy.port}/rtc?name=${NAMES[i]}`, 'call', { signalling: SIGNALLING }))
    }
    proxy.setBackends(procs.map((p) => p.port))
    await assertLiveMedia(t, pages, ids, 30_000, NAMES)
    for (const p of pages) await record(p)
    t.same(await Promise.all(pages.map(async (p) => (await seen(p)).made)), [2, 2, 2], 'each page made one RTCPeerConnection per peer')

    /** Restarts process `i`, whose pages are `moved` (indexes): they must come back through the other one. */
    const restart = async (t: Test, i: number, moved: number[]): Promise<void> => {
      const other = procs[1 - i]
      const before = await Promise.all(pages.map(drops))
      proxy.setBackends([other.port])
      const logged = other.lines.length
      t.equal(await procs[i].stop(), 0, `process ${i} drained and exited with 0 on SIGTERM`)
      const restarted = start() // meanwhile; it takes new connections once back in the balancer
      for (const [j, p] of pages.entries()) {
        if (!moved.includes(j)) continue
        // Its socket was closed with 1012 (the drain), then it came back through the balancer.
        const after = (await until(`${NAMES[j]} to be back after its socket was closed`, async () => {
          const now = await drops(p)
          return now.resumed + now.rejoined > before[j].resumed + before[j].rejoined ? now : null
        }))!
        t.same(after.codes.slice(before[j].codes.length), [1012], `${NAMES[j]}: its socket was closed once, with 1012 (service restart)`)
        t.equal(after.resumed, before[j].resumed + 1, `${NAMES[j]} resumed its session through the balancer on process ${1 - i}`)
      }
      for (const [j, p] of pages.entries()) {
        if (!moved.includes(j)) t.same((await drops(p)).codes, before[j].codes, `${NAMES[j]} (on process ${1 - i}) was not disconnected`)
      }
      const told = other.lines.slice(logged).filter((line) => /rtc: resume/.test(line)).map((line) => {
        const { msg, peer, result } = JSON.parse(line) as { msg: string, peer?: string | null, result?: string }
        const who = typeof peer === 'string' ? ` ${NAMES[ids.indexOf(peer)] ?? peer}` : ''
        return `${msg}${result === undefined ? '' : ` (${result})`}${who}`
      })
      t.comment(`process ${1 - i} logged: ${told.join('; ') || 'no resume'}`)
      procs[i] = await restarted
      proxy.setBackends(procs.map((p) => p.port))
      // Media on every pair, between the sessions the pages have now (new ones if they rejoined).
      await assertLiveMedia(t, pages, await currentIds(pages), 30_000, NAMES)
    }

    await t.test('process 0 restarts: ada and grace resume on process 1', async (t) => await restart(t, 0, [0, 1]))
    await t.test('process 1 restarts: all three resume on the new process 0', async (t) => await restart(t, 1, [0, 1, 2]))

    // Across both restarts, in every page.
    t.same(await currentIds(pages), ids, 'every page kept its id')
    for (const [i, p] of pages.entries()) {
      const s = await seen(p)
      t.equal(s.made, 2, `${NAMES[i]}: no new RTCPeerConnection`)
      t.ok(s.samePcs, `${NAMES[i]}: the same RTCPeerConnection objects`)
      t.same(s.closeFrames, [], `${NAMES[i]} saw no rtc:close`)
      t.same(s.peerFrames, [], `${NAMES[i]} saw no rtc:peer`)
      t.equal(s.rejoined, 0, `${NAMES[i]} never rejoined`)
      t.equal(s.resumed, i === 2 ? 1 : 2, `${NAMES[i]} resumed once per restart of its process`)
      t.same(s.errors, [], `${NAMES[i]}: no error event`)
    }
  })
})
