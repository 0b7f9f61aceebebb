// The browser client (lib/client, served at /rtc/client.js) in real Chromium: three pages in a
// pool exchange live media and data; leaving, muting, errors and reconnection.

import t from 'tap'
import type { Page } from 'playwright-core'
import { chromiumMissing, launch, openPages, page, startServer, until } from './helpers'
import { assertDataChannels, assertLiveMedia, bytes, joinAll } from './mesh'

async function pageEvent (p: Page, expression: string): Promise<unknown> {
  return await p.evaluate(expression)
}

if (!chromiumMissing(t)) {
  t.test('client', async (t) => {
    const server = await startServer(t, {
      routes: (app) => app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js')))
    })
    const context = await launch(t)
    const url = `${server.ws}?name=`
    const pages = await openPages(context, `${server.origin}/test`, 3)
    const names = ['ada', 'grace', 'linus']
    const ids: string[] = []
    for (const [i, p] of pages.entries()) ids.push(...await joinAll([p], 'RtcSignal', url + names[i], 'mesh'))

    await t.test('three pages receive live audio and video from each other, and data channels round-trip', async (t) => {
      t.equal(new Set(ids).size, 3, 'three distinct server-assigned ids')
      for (const [i, p] of pages.entries()) {
        const seen = await p.evaluate(() => (globalThis as any).harness.connections())
        const expected = ids.filter((_, j) => j !== i).map((id) => ({ id, description: { name: names[ids.indexOf(id)] } }))
        t.same(seen.sort((a: any, b: any) => a.id.localeCompare(b.id)), expected.sort((a, b) => a.id.localeCompare(b.id)),
          `page ${i} has a connection to each other page, with the description set by the join hook`)
      }
      await assertLiveMedia(t, pages, ids)
      for (const [i, p] of pages.entries()) {
        for (const [j, peer] of ids.entries()) {
          if (i !== j) t.same(await p.evaluate((peer) => (globalThis as any).harness.kinds(peer), peer), ['audio', 'video'], `page ${i} got audio and video track events from page ${j}`)
        }
      }
      await assertDataChannels(t, pages, ids)
      for (const p of pages) t.same(await p.evaluate(() => (globalThis as any).harness.state.errors), [], 'no error events')
    })

    await t.test('mute stops the track for every peer, including one that joins after muting', async (t) => {
      const [a, b, c] = pages
      await a.evaluate(() => (globalThis as any).harness.state.media.mute('video'))
      t.equal(await a.evaluate(() => (globalThis as any).harness.state.media.muted('video')), true, 'muted("video") is true')
      t.equal(await a.evaluate(() => (globalThis as any).harness.state.media.muted('audio')), false, 'muted("audio") is false')
      const [late] = await openPages(context, `${server.origin}/test`, 1)
      const [lateId] = await joinAll([late], 'RtcSignal', url + 'late', 'mesh')
      // The late page receives A's audio but never A's video.
      await until('the late page to receive audio from A', async () => await bytes(late, ids[0], 'audio') > 0)
      await assertLiveMedia(t, [late, b], [lateId, ids[1]], 30_000, ['late', 'B'])
      for (const [name, p] of [['B', b], ['C', c], ['late', late]] as const) {
        const before = await bytes(p, ids[0], 'video')
        const audioBefore = await bytes(p, ids[0], 'audio')
        // A muted sender sends no RTP at all: the byte count must stay put while audio flows.
        await until(`audio from A to keep flowing at ${name}`, async () => await bytes(p, ids[0], 'audio') > audioBefore + 2000)
        const after = await bytes(p, ids[0], 'video')
        t.equal(after, before, `${name} receives no video bytes from A while A is muted (${before} → ${after})`)
      }
      await a.evaluate(() => (globalThis as any).harness.state.media.unmute('video'))
      t.equal(await a.evaluate(() => (globalThis as any).harness.state.media.muted('video')), false, 'muted("video") is false after unmute')
      for (const [name, p] of [['B', b], ['C', c], ['late', late]] as const) {
        const before = await bytes(p, ids[0], 'video')
        const after = await until(`video from A to resume at ${name}`, async () => {
          const now = await bytes(p, ids[0], 'video')
          return now > before + 2000 ? now : 0
        })
        t.ok(after > before, `${name} receives A's video again after unmute`)
      }
      await late.close()
      await until('the late page to be gone from A', async () => await a.evaluate((id) => (globalThis as any).harness.state.closed.includes(id), lateId))
    })

    await t.test('a page that leaves disappears from the others', async (t) => {
      const [a, b, c] = pages
      await c.evaluate(() => (globalThis as any).harness.state.pool.close())
      for (const [name, p] of [['A', a], ['B', b]] as const) {
        await until(`${name} to see C leave`, async () => await p.evaluate((id) => (globalThis as any).harness.state.closed.includes(id), ids[2]))
        const left = await p.evaluate(() => (globalThis as any).harness.connections().map((c: any) => c.id))
        t.notOk(left.includes(ids[2]), `${name} no longer has a connection to C`)
        t.equal(left.length, 1, `${name} has one connection left`)
      }
      t.equal(await pageEvent(c, 'harness.state.pool.closed'), true, 'C is closed')
    })

    await t.test('rtc:error reaches the page as an error event with its reason; connect() rejects a refused join', async (t) => {
      const [a] = pages
      const reason = await a.evaluate(() => new Promise((resolve) => {
        const pool = (globalThis as any).harness.state.pool
        pool.events.addEventListener('error', (e: any) => resolve(e.detail.reason), { once: true })
        pool.signalling.send('rtc:join', { pool: 'other' })
      }))
      t.equal(reason, 'already-joined', 'a second rtc:join gives an error event with reason already-joined')
      const ignored = await a.evaluate(() => {
        const pool = (globalThis as any).harness.state.pool
        let closes = 0
        const count = (): void => { closes++ }
        pool.events.addEventListener('close', count)
        // As if the server sent them: frames naming a peer this page was never told of.
        for (const type of ['rtc:close', 'rtc:describe', 'rtc:sdp', 'rtc:candidate']) {
          const detail = { id: 'no-such-peer', uid: 'no-such-peer', peer: 'no-such-peer', from: 'no-such-peer', description: { type: 'offer', sdp: '' }, candidate: { candidate: '' } }
          pool.signalling.transceiver.dispatchEvent(new CustomEvent(type, { detail }))
        }
        pool.events.removeEventListener('close', count)
        return { closes, connections: pool.nconnections, closed: pool.closed }
      })
      t.same(ignored, { closes: 0, connections: 1, closed: false }, 'rtc:close, rtc:describe, rtc:sdp, rtc:candidate for an unknown id are ignored (rtcpool throws)')
      const refused = await a.evaluate((ws) => (globalThis as any).RtcSignal.connect(ws + '?name=blocked', 'mesh').then(() => 'joined', (err: any) => `${err.name}:${err.reason}`), server.ws)
      t.equal(refused, 'JoinError:join-denied', 'connect() rejects with reason join-denied when the join hook refuses')
      const relative = await a.evaluate(() => (globalThis as any).RtcSignal.connect('/rtc', 'relative').then((pool: any) => { const name = pool.name; pool.close(); return name }))
      t.equal(relative, 'relative', 'connect() resolves a relative URL against the page and joins')
      const esm = await a.evaluate(async () => {
        const lib = await import('/rtc/client.mjs' as string)
        const pool = await lib.connect('/rtc', 'esm')
        const ok = typeof lib.Pool === 'function' && typeof lib.signalling.websocket === 'function' && pool.name === 'esm'
        pool.close()
        return ok
      })
      t.equal(esm, true, 'the ES module bundle at /rtc/client.mjs works the same')
    })

    await t.test('peer-busy: the refused relay is sent again after 50, 100, 200, 400, 800 ms, then an error event', async (t) => {
      const [a, b] = pages
      const result = await a.evaluate(async (to) => {
        const pool = (globalThis as any).harness.state.pool
        const sent: Array<{ type: string, at: number }> = []
        const send = pool.signalling.send
        pool.signalling.send = function (type: string, data: any) {
          if (type === 'rtc:candidate' && data.for === to) sent.push({ type, at: performance.now() })
          return send.call(this, type, data)
        }
        // As the server answers when B's queue is full (the frame's type and target as context).
        const refuse = (): void => {
          pool.signalling.transceiver.dispatchEvent(new CustomEvent('rtc:error', { detail: { type: 'rtc:candidate', to, reason: 'peer-busy', message: 'busy' } }))
        }
        const errors: any[] = []
        pool.events.addEventListener('error', (e: any) => errors.push(e.detail))
        const rounds: number[] = []
        const start = performance.now()
        for (let round = 0; round < 5; round++) {
          const before = sent.length
          refuse()
          await new Promise<void>((resolve) => {
            const poll = setInterval(() => { if (sent.length > before) { clearInterval(poll); resolve() } }, 5)
          })
          rounds.push(sent.length - before)
        }
        const elapsed = performance.now() - start
        const errorsBefore = errors.length
        refuse()
        pool.signalling.send = send
        return { rounds, elapsed, errorsBefore, errors }
      }, ids[1])
      t.ok(result.rounds.every((n: number) => n > 0 && n === result.rounds[0]), `each retry sends every candidate of the current ICE credentials to B again (${result.rounds.join(', ')})`)
      t.comment(`five retries in ${result.elapsed.toFixed(0)} ms (the schedule: test/client-retry.test.ts)`)
      t.equal(result.errorsBefore, 0, 'no error event while retrying')
      t.match(result.errors, [{ reason: 'peer-busy', type: 'rtc:candidate', to: ids[1], peer: ids[1] }], 'the sixth refusal gives an error event')
      t.same(await b.evaluate(() => (globalThis as any).harness.state.errors), [], 'B, which got the candidates again, reports no error')
      t.equal(await b.evaluate((id) => (globalThis as any).harness.state.pool.getConnection(id).state, ids[0]), 'connected', 'B\'s connection to A is still connected')
    })

    await t.test('without resume, the signalling socket reconnects and rejoins: peers see a leave and a join', async (t) => {
      const [a, b] = pages
      const setup = async (p: Page): Promise<string> => await p.evaluate(async ([ws, name]) => {
        const lib = (globalThis as any).RtcSignal
        const stream = await (globalThis as any).navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 160, height: 120, frameRate: 10 } })
        const pool = await lib.connect(ws, 'again', { stream, query: { name }, resume: false, reconnect: { minDelay: 50, maxDelay: 200 }, rtcConfig: { iceServers: [] } })
        const state = { pool, joins: [] as any[], closed: [] as string[], peers: [] as string[], tracks: [] as string[] }
        pool.events.onjoin = (e: any) => state.joins.push(e.detail) // rtcpool-style handler property
        pool.events.addEventListener('close', (e: any) => { if (e.detail) state.closed.push(e.detail.id) })
        pool.events.addEventListener('peer', (e: any) => state.peers.push(e.detail.connection.id))
        pool.events.addEventListener('track', (e: any) => state.tracks.push(e.connection + ':' + e.track.kind))
        Object.assign(globalThis, { again: state })
        return pool.id
      }, [server.ws, 'r'])
      const idA = await setup(a)
      const idB = await setup(b)
      await until('B to get A\'s tracks', async () => await b.evaluate((id) => (globalThis as any).again.tracks.filter((x: string) => x.startsWith(id)).length === 2, idA))
      await a.evaluate(() => (globalThis as any).again.pool.signalling.transceiver.drop())
      const rejoined = await until('A to rejoin', async () => await a.evaluate(() => (globalThis as any).again.joins[0] ?? null))
      t.equal(rejoined.rejoin, true, 'A gets a join event flagged rejoin')
      t.not(rejoined.id, idA, 'A has a new id after reconnecting')
      t.same(rejoined.peers, [idB], 'A is told of B again')
      await until('B to see A leave', async () => await b.evaluate((id) => (globalThis as any).again.closed.includes(id), idA))
      await until('B to see A join again', async () => await b.evaluate((id) => (globalThis as any).again.peers.includes(id), rejoined.id))
      await until('B to receive A\'s media again', async () => await b.evaluate((id) => (globalThis as any).again.tracks.filter((x: string) => x.startsWith(id)).length === 2, rejoined.id))
      t.pass('media flows again after the reconnection')

      // Now the server side drops every socket without a close frame (as a network failure would).
      const before = await a.evaluate(() => (globalThis as any).again.joins.length)
      for (const socket of server.app.websocketServer.clients) socket.terminate()
      for (const [name, p] of [['A', a], ['B', b]] as const) {
        await until(`${name} to rejoin after the server dropped it`, async () => await p.evaluate((n) => (globalThis as any).again.joins.length > n, name === 'A' ? before : 0))
      }
      const [newA, newB] = [await a.evaluate(() => (globalThis as any).again.pool.id), await b.evaluate(() => (globalThis as any).again.pool.id)]
      t.not(newB, idB, 'B has a new id too')
      await until('A and B to receive each other\'s media again', async () =>
        await b.evaluate((id) => (globalThis as any).again.tracks.filter((x: string) => x.startsWith(id)).length === 2, newA) &&
        await a.evaluate((id) => (globalThis as any).again.tracks.filter((x: string) => x.startsWith(id)).length === 2, newB))
      t.pass('after a server-side drop both pages rejoin and exchange media again')
      await a.evaluate(() => (globalThis as any).again.pool.close())
      await b.evaluate(() => (globalThis as any).again.pool.close())
    })
  })
}
