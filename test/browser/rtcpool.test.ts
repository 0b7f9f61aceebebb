// Compatibility: the real rtcpool 3.0.2 from npm, bundled for the browser, negotiates audio,
// video and data channels between three pages through this server (PROTOCOL.md). The pages run
// the same harness as the client test, which only uses the rtcpool 3.x API.

import t from 'tap'
import { build } from 'esbuild'
import { chromiumMissing, launch, openPages, page, startServer } from './helpers'
import { assertDataChannels, assertLiveMedia, joinAll } from './mesh'

async function bundleRtcpool (): Promise<string> {
  const result = await build({
    stdin: { contents: "window.rtcpool = require('rtcpool')", resolveDir: __dirname, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent'
  })
  return result.outputFiles[0].text
}

if (!chromiumMissing(t)) {
  t.test('rtcpool 3.0.2 pages', async (t) => {
    const version = (await import('rtcpool/package.json', { with: { type: 'json' } })).default.version
    t.equal(version, '3.0.2', 'the installed rtcpool is 3.0.2')
    const bundle = await bundleRtcpool()
    const server = await startServer(t, {
      routes: (app) => {
        app.get('/rtcpool.js', async (_request, reply) => reply.type('text/javascript').send(bundle))
        app.get('/test-rtcpool', async (_request, reply) => reply.type('text/html').send(page('/rtcpool.js', '/test/harness.js')))
        app.get('/test-client', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js')))
      }
    })
    const context = await launch(t)

    await t.test('three rtcpool pages exchange live audio, video and data through this server', async (t) => {
      const pages = await openPages(context, `${server.origin}/test-rtcpool`, 3)
      const ids = await joinAll(pages, 'rtcpool', `${server.ws}?name=rtcpool`, 'rtcpool-only')
      t.equal(new Set(ids).size, 3, 'three ids')
      await assertLiveMedia(t, pages, ids)
      await assertDataChannels(t, pages, ids)
      for (const p of pages) await p.close()
    })

    await t.test('rtcpool pages and this client in one pool', async (t) => {
      // Existing rtcpool members, this client joining last (it waits for their first offer).
      const pages = [
        ...await openPages(context, `${server.origin}/test-rtcpool`, 2),
        ...await openPages(context, `${server.origin}/test-client`, 1)
      ]
      const ids = [
        ...await joinAll(pages.slice(0, 2), 'rtcpool', `${server.ws}?name=old`, 'mixed'),
        ...await joinAll(pages.slice(2), 'RtcSignal', `${server.ws}?name=new`, 'mixed')
      ]
      await assertLiveMedia(t, pages, ids)
      await assertDataChannels(t, pages, ids)
      for (const p of pages) await p.close()
    })
  })
}
