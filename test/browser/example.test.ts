// `npm start`'s server (example/server.ts) as a newcomer meets it: its own process on a free
// port; two tabs at /<pool> see each other's video, named by ?name=.

import t from 'tap'
import { startExample } from '../example-process'
import { chromiumMissing, launch, openPages, until } from './helpers'

if (!chromiumMissing(t)) {
  t.test('example/server.ts: two tabs see each other', async (t) => {
    const { origin } = await startExample(t, { HOST: '127.0.0.1' })
    const page = await fetch(`${origin}/lobby`)
    t.equal(page.status, 200, 'GET /lobby is the demo page')
    const client = await fetch(`${origin}/rtc/client.js`)
    t.equal(client.status, 200, 'GET /rtc/client.js is the client bundle')
    const context = await launch(t)
    const [a, b] = [
      ...await openPages(context, `${origin}/lobby?name=Tab%20A`, 1),
      ...await openPages(context, `${origin}/lobby?name=Tab%20B`, 1)
    ]
    for (const [p, other] of [[a, 'Tab B'], [b, 'Tab A']] as const) {
      const tile = await until(`a connected, playing tile for ${other}`, async () => await p.evaluate(() => {
        const tile = (globalThis as any).document.querySelector('.tile.remote')
        if (tile === null) return null
        const video = tile.querySelector('video')
        const playing = video.videoWidth > 0 && !video.paused && video.currentTime > 0
        return tile.dataset.state === 'connected' && playing ? tile.querySelector('.name').textContent : null
      }), 30_000)
      t.equal(tile, other, `the tab shows ${other}'s video, with the name from ?name=`)
    }
    // The example's describe handler: A mutes its microphone, B's tile for A says so.
    await a.click('#mic')
    await until('the mic-off badge for Tab A', async () => await b.evaluate(() => !(globalThis as any).document.querySelector('.tile.remote .mic-off').hidden))
    t.pass('a describe event from one tab updates the other tab (mic off)')

    // What an operator scrapes after that call (the closing note of the metrics issue quotes it).
    const scrape = await (await fetch(`${origin}/metrics`)).text()
    t.match(scrape, /^rtc_signal_members 2$/m, '/metrics: two members')
    t.match(scrape, /^rtc_signal_negotiation_seconds_count\{outcome="answered"\} 1$/m, 'one negotiation, answered')
    t.comment(scrape.split('\n').filter((l) => l.startsWith('rtc_signal_') && !l.includes('_bucket') && !/ 0$/.test(l)).join('\n'))
  })
}
