// The seed's quickstart page (fixtures/seed-quickstart.txt, "A Minimal Client"), adapted only
// by changing its require line to this project's client and its WebSocket URL: two tabs at
// /<pool> each show the other person's video.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { FIXTURES, brightness, chromiumMissing, launch, openPages, startServer, until } from './helpers'

const REQUIRE_LINE = "const rtcpool = require('rtcpool');"
const OUR_REQUIRE_LINE = "const rtcpool = require('fastify-rtc-signal/client');"
const SEED_WS_URL = 'new WebSocket("ws://localhost:7001/")'

/** The code block that follows `marker` in the seed text (tab-indented, reStructuredText). */
function codeBlock (text: string, marker: string): string {
  const start = text.indexOf(marker)
  if (start === -1) throw new Error(`seed: no ${marker}`)
  const lines = text.slice(start).split('\n').slice(1)
  const block: string[] = []
  let begun = false
  for (const line of lines) {
    if (line.startsWith('\t')) {
      begun = true
      block.push(line.slice(1))
    } else if (line.trim() === '' || line.startsWith('.. code-block')) {
      if (begun) block.push('')
    } else if (begun) {
      break
    }
  }
  return block.join('\n').trim() + '\n'
}

function replaceOnce (source: string, from: string, to: string): string {
  const count = source.split(from).length - 1
  if (count !== 1) throw new Error(`expected exactly one ${JSON.stringify(from)} in the seed, found ${count}`)
  return source.replace(from, to)
}

if (!chromiumMissing(t)) {
  t.test('the seed quickstart page shows the other person\'s video', async (t) => {
    const seed = readFileSync(join(FIXTURES, 'seed-quickstart.txt'), 'utf8')
    const html = codeBlock(seed, '.. code-block:: html')
    const original = codeBlock(seed, 'Now, for our client.js.')
    t.match(original, /media\.RTCStream/, 'the seed page uses the older media.RTCStream API')
    t.match(original, /pool\.add_media\(media\)/, 'and pool.add_media')
    let wsUrl = ''
    const server = await startServer(t, {
      routes: (app) => {
        // As the seed's express server: /client.js is the bundled page script, /:pool the page.
        app.get('/client.js', async (_request, reply) => {
          const source = replaceOnce(replaceOnce(original, REQUIRE_LINE, OUR_REQUIRE_LINE), SEED_WS_URL, `new WebSocket(${JSON.stringify(wsUrl)})`)
          const result = await build({
            stdin: { contents: source, resolveDir: join(__dirname, '..', '..'), loader: 'js', sourcefile: 'client.js' },
            bundle: true,
            format: 'iife',
            platform: 'browser',
            write: false,
            logLevel: 'silent'
          })
          return reply.type('text/javascript').send(result.outputFiles[0].text)
        })
        app.get('/:pool', async (_request, reply) => reply.type('text/html').send(html))
      }
    })
    wsUrl = server.ws
    const context = await launch(t)
    const errors: string[] = []
    const pages = await openPages(context, `${server.origin}/test`, 2)
    for (const p of pages) p.on('pageerror', (err) => errors.push(err.message))
    // The seed script joins the pool named by the path: "test".
    for (const [i, p] of pages.entries()) {
      const other = 1 - i
      const level = await until(`page ${i} to show page ${other}'s video`, async () => {
        const value = await brightness(p, '#notme')
        return value > 20 ? value : 0
      })
      t.ok(level > 20, `page ${i}: #notme shows a non-black picture (mean brightness ${level.toFixed(0)})`)
      const time = await p.evaluate(() => (globalThis as any).document.querySelector('#notme').currentTime)
      await until(`page ${i}'s #notme to keep playing`, async () => await p.evaluate((t0) => (globalThis as any).document.querySelector('#notme').currentTime > t0 + 0.2, time))
      t.pass(`page ${i}: the other person's video is playing`)
      t.ok(await brightness(p, '#me') > 20, `page ${i}: #me shows the local camera`)
    }
    t.same(errors, [], 'no uncaught errors in the pages')
  })
}
