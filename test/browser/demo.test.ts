// The demo page (demo: true) in Chromium: a tile per peer with its name and state, live video,
// mute shown to the others, leave, a phone-sized viewport, and a screenshot kept as an artifact.

import t from 'tap'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { buildInContext } from '../helpers'
import { artifactsDir, brightness, chromiumMissing, launch, openPages, startServer, until } from './helpers'

interface TileInfo { id: string, name: string, state: string, brightness: number, micOff: boolean }

/** Every remote tile of a demo page: peer id, shown name, connection state, picture brightness. */
async function tiles (p: Page): Promise<TileInfo[]> {
  const list: Array<Omit<TileInfo, 'brightness'>> = await p.evaluate(() => {
    const document = (globalThis as any).document
    return [...document.querySelectorAll('.tile.remote')].map((tile: any) => ({
      id: tile.dataset.peerId,
      name: tile.querySelector('.name').textContent,
      state: tile.dataset.state,
      micOff: !tile.querySelector('.mic-off').hidden
    }))
  })
  const result: TileInfo[] = []
  for (const [i, tile] of list.entries()) result.push({ ...tile, brightness: await brightness(p, '.tile.remote video', i) })
  return result
}

// Three live pages, then a dropped socket and a resume: over the default 120 s on a loaded machine.
t.setTimeout(300_000)

if (!chromiumMissing(t)) {
  t.test('demo page', async (t) => {
    const server = await startServer(t, { demo: true })
    const context = await launch(t, { width: 1100, height: 760 })
    // Before any page opens: granting permissions later ends the pages' camera and microphone tracks.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.origin })
    const names = ['Ada', 'Grace', 'Linus']
    const pages: Page[] = []
    for (const name of names) pages.push(...await openPages(context, `${server.origin}/standup?name=${name}`, 1))

    await t.test('a tile per peer, with its name, connected, showing non-black video', async (t) => {
      for (const [i, p] of pages.entries()) {
        const others = names.filter((_, j) => j !== i).sort()
        const ready = (await until(`page ${i} to show two connected tiles with video`, async () => {
          const list = await tiles(p)
          const ok = list.length === 2 && list.every((tile) => tile.state === 'connected' && tile.brightness > 20)
          return ok ? list : null
        }, 30_000)) ?? []
        t.same(ready.map((tile) => tile.name).sort(), others, `page ${i} shows a tile for each other peer, named by the server`)
        t.ok(ready.every((tile) => tile.brightness > 20), `page ${i}: every tile shows a non-black picture (${ready.map((x) => x.brightness.toFixed(0)).join(', ')})`)
      }
      t.equal(await pages[0].textContent('#pool-name'), 'standup', 'the pool name is shown')
      t.match(await pages[0].textContent('#status') ?? '', /3 in the call/, 'the status counts the people in the call')
      const file = join(await artifactsDir(), 'demo.png')
      const png = await pages[0].screenshot({ path: file })
      t.ok(png.length > 10_000, `screenshot saved to ${file} (${png.length} bytes)`)
    })

    await t.test('the copy-link button copies the link to the pool', async (t) => {
      await pages[0].click('#copy-link')
      await until('the button to confirm', async () => await pages[0].textContent('#copy-link') === 'Copied!')
      t.equal(await pages[0].evaluate(() => (globalThis as any).navigator.clipboard.readText()), `${server.origin}/standup`, 'the clipboard holds the link')
    })

    await t.test('muting the microphone is shown on the other pages', async (t) => {
      await pages[0].click('#mic')
      t.equal(await pages[0].textContent('#mic'), 'Unmute mic', 'the button toggles')
      for (const p of pages.slice(1)) {
        await until('the mic-off badge on Ada\'s tile', async () => (await tiles(p)).some((tile) => tile.name === 'Ada' && tile.micOff))
      }
      t.pass('both other pages show Ada\'s mic as off')
      await pages[0].click('#mic')
    })

    await t.test('renaming sends a describe event; the others see the new name', async (t) => {
      await pages[1].fill('#name-input', 'Grace H.')
      await pages[1].press('#name-input', 'Enter')
      await pages[1].locator('#name-input').blur()
      for (const p of [pages[0], pages[2]]) {
        await until('the new name', async () => (await tiles(p)).some((tile) => tile.name === 'Grace H.'))
      }
      t.pass('the other pages show the new name')
    })

    await t.test('a dropped signalling socket: a reconnecting badge, the tiles stay, the session resumes', async (t) => {
      const [ada, ...others] = pages
      const before = (await tiles(ada)).map((tile) => tile.id).sort()
      const state = async (p: Page): Promise<{ connection: string, badge: boolean }> => await p.evaluate(() => {
        const document = (globalThis as any).document
        return { connection: document.body.dataset.connection, badge: !document.querySelector('#reconnecting').hidden }
      })
      // Offline (this page only): the browser keeps the socket open but silent; the client drops it and waits.
      const cdp = await context.newCDPSession(ada)
      await cdp.send('Network.enable')
      const network = async (offline: boolean): Promise<void> => {
        await cdp.send('Network.emulateNetworkConditions', { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
      }
      await network(true)
      await until('Ada\'s page to show it is reconnecting', async () => (await state(ada)).badge)
      t.same(await state(ada), { connection: 'reconnecting', badge: true }, 'the badge shows, body[data-connection=reconnecting]')
      const during = await tiles(ada)
      t.same(during.map((tile) => tile.id).sort(), before, 'the tiles stay')
      t.ok(during.every((tile) => tile.state === 'connected' && tile.brightness > 20), 'still connected, still showing video')
      t.ok((await tiles(others[0])).some((tile) => tile.name === 'Ada' && tile.brightness > 20), 'Grace still sees Ada')
      await network(false)
      await until('Ada\'s page to resume', async () => (await state(ada)).connection === 'connected')
      t.equal((await state(ada)).badge, false, 'the badge is gone')
      t.same((await tiles(ada)).map((tile) => tile.id).sort(), before, 'the same tiles (the same peers, not rejoined)')
      t.match(await ada.textContent('#status') ?? '', /3 in the call/, 'the status counts the call again')
      await cdp.detach()
    })

    await t.test('leaving removes the tile from the others', async (t) => {
      await pages[2].click('#leave')
      for (const p of pages.slice(0, 2)) {
        const left = (await until('one tile left', async () => {
          const list = await tiles(p)
          return list.length === 1 ? list : null
        })) ?? []
        t.notOk(left.some((tile) => tile.name === 'Linus'), 'Linus\'s tile is gone')
      }
      t.match(await pages[2].textContent('#status') ?? '', /left/, 'the leaver sees that it left')
    })

    await t.test('the root URL picks a random pool and puts it in the address', async (t) => {
      const [p] = await openPages(context, `${server.origin}/?name=Solo`, 1)
      const path = await p.evaluate(() => (globalThis as any).location.pathname)
      t.match(path, /^\/room-[a-z0-9]+$/, `redirected (history) to ${path}`)
      await until('the status to say it waits for others', async () => /Waiting for others/.test(await p.textContent('#status') ?? ''))
      t.equal(await p.textContent('#pool-name'), decodeURIComponent(path.slice(1)), 'the pool name is shown')
      await p.close()
    })

    await t.test('readable on a phone-sized viewport', async (t) => {
      const phone = pages[0]
      await phone.setViewportSize({ width: 375, height: 740 })
      const layout = await phone.evaluate(() => {
        const document = (globalThis as any).document
        const window = globalThis as any
        const box = (selector: string): any => document.querySelector(selector).getBoundingClientRect()
        return {
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          tile: box('.tile.remote').width,
          leave: box('#leave'),
          mic: box('#mic')
        }
      })
      t.ok(layout.overflow <= 0, `no horizontal scrolling (${layout.overflow}px)`)
      t.ok(layout.tile > 300, `tiles use the width of the screen (${layout.tile.toFixed(0)}px)`)
      t.ok(layout.leave.right <= 375 && layout.mic.left >= 0, 'the controls are on screen')
      t.ok(layout.leave.height >= 40, 'buttons are big enough to tap')
      await phone.screenshot({ path: join(await artifactsDir(), 'demo-phone.png') })
    })
  })

  t.test('demo page in an encapsulated context with a prefix', async (t) => {
    const { app, child: api } = await buildInContext(t, '/api', { demo: true, privatePools: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const context = await launch(t)
    const [p] = await openPages(context, `${origin}/api/lobby?name=Ada`, 1)
    await until('the status to say it waits for others', async () => /Waiting for others/.test(await p.textContent('#status') ?? ''))
    t.equal(await p.textContent('#pool-name'), 'lobby', 'the pool comes from the path after the context\'s prefix')
    t.match(await api.rtcPools.get('lobby'), { members: [{ description: null }] }, 'it joined through /api/rtc')
    const [root] = await openPages(context, `${origin}/api/?name=Solo`, 1)
    await until('a random pool', async () => /^\/api\/room-[a-z0-9]+$/.test(await root.evaluate(() => (globalThis as any).location.pathname)))
    t.pass('the random pool goes in the address under /api')
  })
}
