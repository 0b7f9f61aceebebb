// ICE servers from the server, in real Chromium against a real coturn on loopback: two pages with
// iceTransportPolicy 'relay' connect through the relay with the credentials the plugin issued; with
// a secret coturn does not know, coturn refuses them and the call never connects.

import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { IceServersResult } from '../../lib/index'
import { until } from './helpers'
import { assertDataChannels, assertLiveMedia } from './mesh'
import {
  CONNECT_TIMEOUT, allocated, expectedTurn, relayPages, relayedPair, pageErrors, selected, state, unauthorized, withCoturn, type Selected
} from './relay'

const SECRET = `browser-${randomUUID()}`

withCoturn('ICE servers through a real coturn', SECRET, (env) => {
  const { coturn } = env

  t.test('two relay-only pages connect through coturn with the credentials the plugin issued', async (t) => {
    const ttl = 600
    const { pages, ids } = await relayPages(t, env, { iceServers: [{ urls: coturn().url, secret: SECRET, ttl }] })
    const usernames: string[] = []
    for (const [i, p] of pages.entries()) {
      const [ice] = await state(p, 'ice') as Array<IceServersResult & { refreshed: boolean, applied: boolean, at: number }>
      const expiry = Number(String(ice.servers[0].username).split(':')[0])
      t.same({ ...ice, at: 0 }, { servers: [expectedTurn(coturn().url, SECRET, ids[i], expiry)], expiresAt: expiry * 1000, refreshed: false, applied: true, at: 0 },
        `page ${i} got a TURN credential for its own id from rtc:joined, used for its connections`)
      usernames.push(String(ice.servers[0].username))
    }
    const pairs: Selected[] = []
    for (const [i, p] of pages.entries()) {
      const pair = await relayedPair(p, ids[1 - i], `page ${i} connected through the relay`)
      t.match(pair, { state: 'succeeded', local: 'relay', remote: 'relay', relayProtocol: 'udp' }, `page ${i}: the selected pair is relay ↔ relay`)
      t.same([...new Set(await state(p, `localTypes.${ids[1 - i]}`) as string[])], ['relay'], `page ${i} gathered relay candidates only`)
      pairs.push(pair)
    }
    await assertDataChannels(t, pages, ids)
    await assertLiveMedia(t, pages, ids)
    for (const username of usernames) await coturn().waitForLog(allocated(username))
    t.pass('coturn allocated a relay for each member\'s own username')
    const times = await Promise.all(pages.map(async (p, i) => await state(p, `connectedAfter.${ids[1 - i]}`) as number))
    t.comment(`FIGURES relay: time from connection created to connected ${times.map((ms) => `${Math.round(ms)} ms`).join(' / ')}; ` +
      `selected pairs ${pairs.map((p) => `${p.local}/${p.remote} (${p.relayProtocol ?? '?'}, rtt ${p.roundTripTime ?? '?'} s)`).join(' / ')}`)
    for (const p of pages) t.same(await pageErrors(p), [], 'no error events')
  })

  t.test('a secret coturn does not know: 401 for every allocation, the call does not connect', async (t) => {
    const wrong = `wrong-${randomUUID()}`
    const { pages, ids } = await relayPages(t, env, { iceServers: [{ urls: coturn().url, secret: wrong, ttl: 600 }] })
    for (const [i, p] of pages.entries()) {
      const [ice] = await state(p, 'ice') as IceServersResult[]
      const username = String(ice.servers[0].username)
      const errors = await until(`page ${i}: a 401 from the TURN server`, async () => {
        const list = await state(p, `candidateErrors.${ids[1 - i]}`) as Array<{ errorCode: number }> | undefined
        return list !== undefined && list.some((e) => e.errorCode === 401) ? list : null
      }, CONNECT_TIMEOUT) as Array<{ errorCode: number }>
      t.ok(errors.length > 0, `page ${i}: icecandidateerror ${JSON.stringify(errors[0])}`)
      await coturn().waitForLog(unauthorized(username))
      t.notMatch(coturn().log(), allocated(username), `coturn refused ${username.slice(0, 12)}…`)
    }
    for (const [i, p] of pages.entries()) {
      await until(`page ${i}: gathering complete`, async () => await p.evaluate((peer) => (globalThis as any).relay.connection(peer).iceGatheringState === 'complete', ids[1 - i]), CONNECT_TIMEOUT)
    }
    for (const [i, p] of pages.entries()) {
      t.same(await state(p, `localTypes.${ids[1 - i]}`), [], `page ${i} gathered no candidate at all (relay only, relay refused)`)
      t.equal(await selected(p, ids[1 - i]), null, `page ${i}: no candidate pair selected`)
      t.not(await p.evaluate((peer) => (globalThis as any).relay.connection(peer).connectionState, ids[1 - i]), 'connected', `page ${i} is not connected`)
      t.equal(await state(p, `connectedAfter.${ids[1 - i]}`), undefined, `page ${i} never was`)
    }
  })
})
