// `npm start`'s server (example/server.ts) as a newcomer meets it: its own process on a free
// port; two tabs at /<pool> see each other's video, named by ?name=.

import t from 'tap'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import type { Test } from 'tap'
import { chromiumMissing, launch, openPages, until } from './helpers'

const ROOT = join(__dirname, '..', '..')

/** Starts example/server.ts with PORT=0 and resolves with its origin, read from its log. */
async function startExample (t: Test): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'example/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  })
  const lines = createInterface({ input: child.stdout })
  return await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`example/server.ts exited with ${code}`)))
    lines.on('line', (line) => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
      if (match !== null) resolve(match[1])
    })
  })
}

if (!chromiumMissing(t)) {
  t.test('example/server.ts: two tabs see each other', async (t) => {
    const origin = await startExample(t)
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
  })
}
