// ICE servers from the server as they expire, in real Chromium against a real coturn on loopback:
// rtc:ice comes before expiry and an ICE restart after it allocates with the new credentials; after a
// refresh, a relayed connection whose relay is lost restarts ICE at the disconnect.

import { randomUUID } from 'node:crypto'
import t from 'tap'
import { MIN_REFRESH_DELAY } from '../../lib/ice'
import type { IceServersResult } from '../../lib/index'
import { startCoturn } from '../turn/coturn'
import { until } from './helpers'
import { assertDataChannels, assertLiveMedia } from './mesh'
import { CONNECT_TIMEOUT, allocated, expectedTurn, relayPages, relayedPair, pageErrors, state, withCoturn } from './relay'

const SECRET = `browser-${randomUUID()}`

/** Long enough for the refresh to come before expiry: refreshDelay floors at MIN_REFRESH_DELAY (10 s). */
const SHORT_LIFETIME_S = 14

withCoturn('ICE servers refreshed through a real coturn', SECRET, (env) => {
  const { coturn } = env

  t.test('a short lifetime: rtc:ice before expiry; after it the old credential is refused and an ICE restart uses the new one', async (t) => {
    const url = coturn().url
    const { pages, ids } = await relayPages(t, env, {
      // The function form, as with a hosted TURN provider: here it signs for coturn, with a lifetime below the option's minimum.
      iceServers: (endpoint) => {
        const expiry = Math.floor(Date.now() / 1000) + SHORT_LIFETIME_S
        return { servers: [expectedTurn(url, SECRET, endpoint.id, expiry)], expiresAt: expiry * 1000 }
      }
    })
    const [a, b] = pages
    const before = await relayedPair(a, ids[1], 'A connected through the relay')
    await relayedPair(b, ids[0], 'B connected through the relay')

    type Ice = IceServersResult & { refreshed: boolean, applied: boolean, at: number }
    const refreshes: Ice[] = []
    for (const [i, p] of pages.entries()) {
      const [joined] = await state(p, 'ice') as Ice[]
      const refresh = await until(`page ${i}: rtc:ice`, async () => (await state(p, 'ice') as Ice[])[1], SHORT_LIFETIME_S * 1000 + CONNECT_TIMEOUT)
      t.match(refresh, { refreshed: true, applied: true }, `page ${i}: the refresh reached the page and was applied`)
      t.ok(refresh.at < (joined.expiresAt as number), `page ${i}: rtc:ice came ${joined.expiresAt as number - refresh.at} ms before the first credential expired`)
      t.ok(refresh.at - (joined.expiresAt as number - SHORT_LIFETIME_S * 1000) >= MIN_REFRESH_DELAY - 1000, 'not before the refresh was due')
      t.not(refresh.servers[0].username, joined.servers[0].username, 'a new username (a later expiry)')
      refreshes.push(refresh)
    }
    const [oldA] = await state(a, 'ice') as Ice[]
    // Past the old expiry (whole seconds in the username): coturn now refuses it.
    await until('the first credential to expire', async () => Date.now() > (oldA.expiresAt as number) + 1000, SHORT_LIFETIME_S * 1000)
    const stale = await a.evaluate((servers) => (globalThis as any).relay.gather(servers), oldA.servers)
    t.same(stale.types, [], 'the expired credential gets no relay')
    t.ok(stale.errors.includes(401), `coturn answers it with 401 (${JSON.stringify(stale.errors)})`)
    const fresh = await a.evaluate((servers) => (globalThis as any).relay.gather(servers), refreshes[0].servers)
    t.same(fresh.types.includes('relay'), true, 'the refreshed one gets a relay')

    // An ICE restart gathers with the configuration the client applied: the refreshed credential.
    const restartedAt = Date.now()
    await a.evaluate((peer) => (globalThis as any).relay.connection(peer).restartIce(), ids[1])
    const after = await relayedPair(a, ids[1], 'A reconnected through the relay after the ICE restart', before)
    const restartMs = Date.now() - restartedAt
    t.match(after, { state: 'succeeded', local: 'relay', remote: 'relay' }, 'relay ↔ relay again, on new ICE credentials')
    await coturn().waitForLog(allocated(String(refreshes[0].servers[0].username)))
    t.pass('coturn allocated with A\'s refreshed credential')
    await assertDataChannels(t, pages, ids)
    await assertLiveMedia(t, pages, ids)
    t.comment(`FIGURES refresh: rtc:ice ${(oldA.expiresAt as number) - refreshes[0].at} ms before expiry (lifetime ${SHORT_LIFETIME_S} s); ` +
      `ICE restart to relayed pair ${restartMs} ms; pair ${after.local}/${after.remote}`)
    for (const p of pages) t.same(await pageErrors(p), [], 'no error events')
  })

  t.test('after a refresh, a relayed connection whose relay is lost restarts ICE at the disconnect, with the new credentials', async (t) => {
    // A coturn of its own, restarted in place (same URL, allocations gone) while the call runs.
    const first = await startCoturn({ secret: SECRET })
    const started = [first]
    t.teardown(async () => { for (const c of started) await c.stop() })
    let issued = 0
    const { pages, ids, server } = await relayPages(t, env, {
      // Each issue gets its own expiry, so the refreshed username differs from the first one.
      iceServers: (endpoint) => {
        const expiry = Math.floor(Date.now() / 1000) + 600 + issued++
        return { servers: [expectedTurn(first.url, SECRET, endpoint.id, expiry)], expiresAt: expiry * 1000 }
      }
    })
    const before = await Promise.all(pages.map(async (p, i) => await relayedPair(p, ids[1 - i], `page ${i} connected through the relay`)))
    t.equal(await server.app.rtcPools.refreshIce(), 2, 'fresh servers pushed to both members')
    const refreshed: string[] = []
    for (const [i, p] of pages.entries()) {
      const ice = await until(`page ${i}: rtc:ice`, async () => (await state(p, 'ice') as Array<IceServersResult & { refreshed: boolean }>)[1]) as IceServersResult & { refreshed: boolean }
      t.equal(ice.refreshed, true)
      refreshed.push(String(ice.servers[0].username))
    }
    const statesBefore = await Promise.all(pages.map(async (p, i) => (await state(p, `iceStates.${ids[1 - i]}`) as string[]).length))

    const lostAt = Date.now()
    await first.stop()
    const second = await startCoturn({ secret: SECRET, port: first.port })
    started.push(second)
    const after = await Promise.all(pages.map(async (p, i) => await relayedPair(p, ids[1 - i], `page ${i} back on a relayed pair through the new coturn`, before[i])))
    const recoveryMs = Date.now() - lostAt
    for (const [i, p] of pages.entries()) {
      const states = (await state(p, `iceStates.${ids[1 - i]}`) as string[]).slice(statesBefore[i])
      // The impolite side (page 0) restarts at once; the polite one may get its offer before it notices.
      if (i === 0) t.ok(states.includes('disconnected'), `page ${i} saw the relay go: ${states.join(' → ')}`)
      t.notOk(states.includes('failed'), `page ${i} restarted ICE at the disconnect, without waiting for 'failed' (${states.join(' → ')})`)
      t.match(after[i], { local: 'relay', remote: 'relay' })
      await second.waitForLog(allocated(refreshed[i]))
      t.pass(`page ${i} allocated on the new coturn with its refreshed credential`)
    }
    await assertDataChannels(t, pages, ids)
    await assertLiveMedia(t, pages, ids)
    t.comment(`FIGURES relay lost after a refresh: back on a relayed pair ${recoveryMs} ms after the TURN server stopped`)
    for (const p of pages) t.same(await pageErrors(p), [], 'no error events')
  })
})
