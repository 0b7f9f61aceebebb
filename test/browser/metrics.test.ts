// Metrics of a real call: three Chromium pages running this package's client negotiate a full
// mesh (audio and video) through a server with metrics on. Every offer a page sends is answered:
// one `answered` observation per offer/answer exchange, tracked per ordered pair (offerer →
// answerer), never a timeout.

import t from 'tap'
import diagnostics from 'node:diagnostics_channel'
import type { Page } from 'playwright-core'
import { Registry } from 'prom-client'
import { CHANNELS, type RelayFact } from '../../lib/index'
import { chromiumMissing, launch, openPages, page, startServer, until } from './helpers'
import { assertLiveMedia, joinAll } from './mesh'

/** True when every connection of the page is connected and has no negotiation under way. */
async function settled (p: Page): Promise<boolean> {
  return await p.evaluate(() => (globalThis as any).harness.state.pool.connections.every((c: any) =>
    c.state === 'connected' && c.peerConnection.signalingState === 'stable'))
}

async function observed (registry: Registry, outcome: string): Promise<number> {
  const metric = registry.getSingleMetric('rtc_signal_negotiation_seconds')
  const { values } = await metric!.get()
  return (values as Array<{ value: number, labels: Record<string, unknown>, metricName?: string }>)
    .find((v) => v.metricName === 'rtc_signal_negotiation_seconds_count' && v.labels.outcome === outcome)?.value ?? 0
}

if (!chromiumMissing(t)) {
  t.test('three pages in a full mesh', async (t) => {
    const registry = new Registry()
    const relayed: RelayFact[] = []
    const listener = (fact: unknown): void => { if ((fact as RelayFact).type === 'sdp') relayed.push(fact as RelayFact) }
    diagnostics.subscribe(CHANNELS.relay, listener)
    t.teardown(() => diagnostics.unsubscribe(CHANNELS.relay, listener))
    const server = await startServer(t, {
      metrics: { registry },
      routes: (app) => app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js')))
    })
    const context = await launch(t)
    const pages = await openPages(context, `${server.origin}/test`, 3)
    const ids = await joinAll(pages, 'RtcSignal', `${server.ws}?name=guest`, 'metrics')
    await assertLiveMedia(t, pages, ids)
    await until('every connection to be connected and stable', async () => (await Promise.all(pages.map(settled))).every(Boolean))

    const offers = relayed.filter((f) => f.sdpType === 'offer')
    const answers = relayed.filter((f) => f.sdpType === 'answer')
    const pairs = new Set(answers.map((f) => [f.from, f.to].sort().join(' ')))
    t.equal(pairs.size, 3, 'each of the three pairs negotiated')
    t.equal(offers.length, answers.length, `every offer was answered (${offers.length} offers)`)
    // Usually one exchange per pair (the member already in the pool offers, the newcomer's tracks
    // ride on the answer); when the newcomer's tracks came too late for that answer, it offers
    // them itself: a second exchange on that pair, in the other direction, counted as such.
    t.ok(answers.length >= 3 && answers.length <= 6, `three to six exchanges (${answers.length})`)
    t.equal(await observed(registry, 'answered'), answers.length, 'one answered observation per offer/answer exchange')
    t.equal(await observed(registry, 'timeout'), 0, 'no timeout')
    t.equal(await observed(registry, 'abandoned'), 0, 'nobody left')
    t.comment(`exchanges (offerer → answerer): ${offers.map((f) => `${ids.indexOf(f.from)}→${ids.indexOf(f.to)}`).join(', ')}`)
    t.comment('scrape after the call:\n' + await registry.metrics())
  })
}
