// Resume after a blip, in real Chromium with live media (docs/protocol.md "Extensions"): three
// pages in a call; one page's signalling socket is cut (the server terminates it; the page goes
// offline) and the session resumes: media keeps flowing on every pair, no RTCPeerConnection is
// made, the other pages see no rtc:close / rtc:peer. When the server no longer has the session
// (grace period over) the page rejoins cleanly. Also: the URL function, giving up.

import t from 'tap'
import type { Test } from 'tap'
import type { BrowserContext, CDPSession, Page } from 'playwright-core'
import type { WebSocket as ServerSocket } from 'ws'
import { chromiumMissing, launch, openPages, page, startServer, until } from './helpers'
import type { Server } from './helpers'
import { assertLiveMedia, bytes, joinAll } from './mesh'
import { countConnections, record, seen } from './resume-log'

/** The server side socket of each page, by its `?name=` (the latest one). */
function socketsByName (server: Server): Map<string, ServerSocket> {
  const sockets = new Map<string, ServerSocket>()
  server.app.websocketServer.on('connection', (socket: ServerSocket, request: { url?: string }) => {
    const name = new URL(request.url ?? '/', 'http://x').searchParams.get('name')
    if (name !== null) sockets.set(name, socket)
  })
  return sockets
}

const sessions = new WeakMap<Page, CDPSession>()

/**
 * Network emulation of one page only (Playwright's setOffline applies to the whole context). The
 * CDP session stays attached: detaching it ends the emulation.
 */
async function setOffline (context: BrowserContext, p: Page, offline: boolean): Promise<void> {
  let cdp = sessions.get(p)
  if (cdp === undefined) {
    cdp = await context.newCDPSession(p)
    sessions.set(p, cdp)
    await cdp.send('Network.enable')
  }
  await cdp.send('Network.emulateNetworkConditions', { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
}

// Three calls of three live pages each: over the default 120 s on a loaded machine.
t.setTimeout(300_000)

if (!chromiumMissing(t)) {
  t.test('resume: three pages in a call, one page\'s signalling socket cut', async (t) => {
    const server = await startServer(t, {
      routes: (app) => app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js')))
    })
    const sockets = socketsByName(server)
    const context = await launch(t)
    await countConnections(context)
    const names = ['ada', 'grace', 'linus']
    const pages = await openPages(context, `${server.origin}/test`, 3)
    const ids: string[] = []
    const signalling = { reconnect: { minDelay: 50, maxDelay: 500 } } // a given WebSocket reconnects (and so resumes) only when asked
    for (const [i, p] of pages.entries()) ids.push(...await joinAll([p], 'RtcSignal', `${server.ws}?name=${names[i]}`, 'call', { signalling }))
    await assertLiveMedia(t, pages, ids, 30_000, names)
    for (const p of pages) await record(p)
    const made = await Promise.all(pages.map(async (p) => (await seen(p)).made))
    t.same(made, [2, 2, 2], 'each page made one RTCPeerConnection per peer')

    const assertUntouched = async (t: Test, cut: number, how: string): Promise<void> => {
      const mine = (await until(`${names[cut]} to resume`, async () => {
        const s = await seen(pages[cut])
        return s.resumed > 0 ? s : null
      }))!
      t.equal(mine.id, ids[cut], `${names[cut]} keeps its id`)
      t.ok(mine.reconnecting >= 1, `${names[cut]} got a reconnecting event`)
      t.equal(mine.rejoined, 0, 'no rejoin')
      t.ok(mine.samePcs, `${names[cut]} has the very same RTCPeerConnection objects`)
      t.equal(mine.made, 2, `${names[cut]} made no new RTCPeerConnection`)
      t.comment(`${how}: cut to resumed in ${mine.cutToResumed} ms`)
      // Media keeps flowing on every pair, both ways.
      await assertLiveMedia(t, pages, ids, 30_000, names)
      for (const [i, p] of pages.entries()) {
        const s = await seen(p)
        t.equal(s.made, 2, `${names[i]}: no new RTCPeerConnection`)
        t.ok(s.samePcs, `${names[i]}: the same RTCPeerConnection objects`)
        t.same(s.errors, [], `${names[i]}: no error event`)
        if (i === cut) continue
        t.same(s.closeFrames, [], `${names[i]} saw no rtc:close`)
        t.same(s.peerFrames, [], `${names[i]} saw no rtc:peer`)
        t.equal(s.reconnecting + s.resumed + s.rejoined, 0, `${names[i]} noticed nothing`)
      }
    }

    await t.test('the server terminates the socket (no close frame): the session resumes, nothing is torn down', async (t) => {
      for (const p of pages) await record(p)
      const before = await bytes(pages[1], ids[0], 'video')
      sockets.get('ada')!.terminate()
      await assertUntouched(t, 0, 'server-side terminate')
      t.ok(await bytes(pages[1], ids[0], 'video') > before, 'grace still receives ada\'s video')
    })

    await t.test('the page goes offline, then online: the session resumes, nothing is torn down', async (t) => {
      for (const p of pages) await record(p)
      const old = sockets.get('grace')
      await setOffline(context, pages[1], true)
      await until('grace to see its socket drop', async () => (await pages[1].evaluate(() => (globalThis as any).resumeLog.reconnecting.length)) > 0)
      // Offline for a moment: the page's reconnection attempts fail meanwhile, the media (peer to peer) goes on.
      const during = await bytes(pages[0], ids[1], 'audio')
      await until('ada to keep receiving grace\'s audio while grace is offline', async () => await bytes(pages[0], ids[1], 'audio') > during + 1000)
      // Meanwhile ada renames herself: the server keeps the rtc:describe for grace, and replays it.
      await until('grace to be suspended on the server', async () => (await server.app.rtcPools.get('call'))?.members.some((m) => m.id === ids[1] && m.state === 'suspended'))
      await pages[0].evaluate(() => (globalThis as any).harness.state.pool.send('describe', { name: 'ada, renamed' }))
      await until('ada\'s new name to be set on the server', async () => (await server.app.rtcPools.get('call'))?.members.some((m) => m.id === ids[0] && (m.description as any)?.name === 'ada, renamed'))
      await setOffline(context, pages[1], false)
      await assertUntouched(t, 1, 'offline/online')
      t.not(sockets.get('grace'), old, 'grace is on a new socket')
      t.same(await pages[1].evaluate((id) => (globalThis as any).harness.state.descriptions[id], ids[0]), { name: 'ada, renamed' },
        'grace got the rtc:describe sent while it was away (replayed after rtc:resumed)')
    })

    await t.test('the grace period ends before the page is back: resume-failed, a clean rejoin', async (t) => {
      const graceMs = 300
      // A server whose grace is shorter than the outage: as if it restarted in between.
      const short = await startServer(t, {
        resume: { graceMs },
        routes: (app) => app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js')))
      })
      const others = await openPages(context, `${short.origin}/test`, 3)
      const otherIds: string[] = []
      for (const [i, p] of others.entries()) otherIds.push(...await joinAll([p], 'RtcSignal', `${short.ws}?name=${names[i]}`, 'short', { signalling }))
      await assertLiveMedia(t, others, otherIds, 30_000, names)
      for (const p of others) await record(p)
      await setOffline(context, others[2], true)
      // linus is gone from the server (its socket dropped) and its grace runs out: the others see it leave, once.
      for (const p of others.slice(0, 2)) {
        await until('the others to see linus leave', async () => (await seen(p)).closeFrames.includes(otherIds[2]), 10_000)
      }
      await setOffline(context, others[2], false)
      const rejoined = await until('linus to rejoin', async () => await others[2].evaluate(() => (globalThis as any).resumeLog.rejoined[0] ?? null))
      t.equal(rejoined.previous, otherIds[2], 'rejoined names the old id')
      t.equal(rejoined.reason, 'resume-failed', 'because the resume failed')
      t.not(rejoined.id, otherIds[2], 'with a new id')
      t.same([...rejoined.peers].sort(), otherIds.slice(0, 2).sort(), 'and is told of the others')
      const newIds = [otherIds[0], otherIds[1], rejoined.id]
      for (const [i, p] of others.slice(0, 2).entries()) {
        const s = (await until(`${names[i]} to see linus's new id`, async () => {
          const s = await seen(p)
          return s.peerFrames.includes(rejoined.id) ? s : null
        }))!
        t.same(s.closeFrames, [otherIds[2]], `${names[i]} saw exactly one rtc:close, for linus's old id`)
      }
      await assertLiveMedia(t, others, newIds, 30_000, names)
      t.same((await seen(others[2])).errors, [], 'linus got no error event (resume-failed is handled)')
      for (const p of others) await p.close()
    })
  })

  t.test('a server restart: drained with 1012, the pages come back, cannot resume there and rejoin', async (t) => {
    const routes = (app: Server['app']): void => { app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js'))) }
    const first = await startServer(t, { routes, drain: { windowMs: 200, deadlineMs: 5000 } })
    const context = await launch(t)
    const names = ['ada', 'grace', 'linus']
    const pages = await openPages(context, `${first.origin}/test`, 3)
    const ids: string[] = []
    const signalling = { reconnect: { minDelay: 50, maxDelay: 300 } }
    for (const [i, p] of pages.entries()) ids.push(...await joinAll([p], 'RtcSignal', `${first.ws}?name=${names[i]}`, 'restart', { signalling }))
    await assertLiveMedia(t, pages, ids, 30_000, names)
    for (const p of pages) await record(p)
    await first.app.close()
    for (const [i, p] of pages.entries()) {
      const [disconnect] = await p.evaluate(() => (globalThis as any).resumeLog.disconnects)
      t.match(disconnect, { code: 1012, reconnecting: true, resuming: true }, `${names[i]} got 1012 (service restart) and will resume`)
      t.ok(disconnect.delay >= 0 && disconnect.delay <= 2000, `${names[i]} waits a random time up to 2 s first (${disconnect.delay} ms)`)
    }
    // The same address, a new process: it never heard of these sessions.
    const second = await startServer(t, { routes, port: Number(new URL(first.origin).port) })
    const rejoined: Array<{ id: string, previous: string, reason: string }> = []
    for (const [i, p] of pages.entries()) {
      rejoined.push(await until(`${names[i]} to rejoin`, async () => await p.evaluate(() => (globalThis as any).resumeLog.rejoined[0] ?? null)))
      t.match(rejoined[i], { previous: ids[i], reason: 'resume-failed' }, `${names[i]} rejoined after resume-failed`)
    }
    const newIds = rejoined.map((r) => r.id)
    t.equal(new Set([...ids, ...newIds]).size, 6, 'with new ids')
    await assertLiveMedia(t, pages, newIds, 30_000, names)
    t.equal((await second.app.rtcPools.get('restart'))?.members.length, 3, 'all three are in the pool on the new server')
  })

  t.test('the URL function is called before every reconnection; giving up closes the pool', async (t) => {
    const server = await startServer(t, {
      routes: (app) => app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js')))
    })
    const urls: string[] = []
    const sockets = new Map<string, ServerSocket>()
    server.app.websocketServer.on('connection', (socket: ServerSocket, request: { url?: string }) => {
      urls.push(request.url ?? '')
      sockets.set('latest', socket)
    })
    const context = await launch(t)
    const [p] = await openPages(context, `${server.origin}/test`, 1)
    const id = await p.evaluate(async (ws) => {
      const g = globalThis as any
      let calls = 0
      const pool = await g.RtcSignal.connect(async () => `${ws}?token=t${++calls}`, 'fn', { reconnect: { minDelay: 20, maxDelay: 100, giveUpAfterMs: 1500 } })
      g.fnState = { pool, resumed: 0, closed: false, disconnects: [] as any[] }
      pool.events.addEventListener('resumed', () => g.fnState.resumed++)
      pool.events.addEventListener('disconnect', (e: any) => g.fnState.disconnects.push(e.detail))
      pool.events.addEventListener('close', (e: any) => { if (e.detail === null) g.fnState.closed = true })
      return pool.id
    }, server.ws)
    sockets.get('latest')!.terminate()
    await until('the page to resume', async () => await p.evaluate(() => (globalThis as any).fnState.resumed === 1))
    t.same(urls.map((u) => new URL(u, 'http://x').searchParams.get('token')), ['t1', 't2'], 'the second socket opened at the URL the function gave then')
    t.equal(await p.evaluate(() => (globalThis as any).fnState.pool.id), id, 'same id after the resume')

    // Over 1,000 frames sent while away: the session is given up, the pool joins afresh.
    await setOffline(context, p, true)
    const kept = await p.evaluate(async () => {
      const g = globalThis as any
      await new Promise((resolve) => g.fnState.pool.events.addEventListener('reconnecting', resolve, { once: true }))
      const results = []
      for (let i = 0; i < 1001; i++) results.push(g.fnState.pool.send('note', { i }))
      g.fnState.rejoined = new Promise((resolve) => g.fnState.pool.events.addEventListener('rejoined', (e: any) => resolve(e.detail), { once: true }))
      return [results.filter(Boolean).length, results.at(-1)]
    })
    t.same(kept, [1000, false], 'the first 1,000 frames are held, the next is refused')
    await setOffline(context, p, false)
    const rejoined = await p.evaluate(() => (globalThis as any).fnState.rejoined)
    t.match(rejoined, { previous: id, reason: 'resume-failed' }, 'the pool rejoins afresh instead of resuming')
    t.not(rejoined.id, id, 'with a new id')

    // Offline for longer than giveUpAfterMs: every attempt fails, then the client gives up.
    await setOffline(context, p, true)
    await until('the pool to close', async () => await p.evaluate(() => (globalThis as any).fnState.closed), 15_000)
    const last = await p.evaluate(() => (globalThis as any).fnState.disconnects.at(-1))
    t.equal(last.reconnecting, false, 'the last disconnect says it will not reconnect')
    t.ok(last.attempt > 1, `after ${last.attempt} attempts`)
    await setOffline(context, p, false)
  })
}
