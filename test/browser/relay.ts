// Shared by the TURN browser tests (turn.test.ts, turn-refresh.test.ts): two pages running
// fixtures/harness.js and fixtures/relay.js, joined with relay-only connections, and what the tests read back from them.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { BrowserContext, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { turnRestCredential, type IceServer, type RtcSignalOptions } from '../../lib/index'
import { coturnMissing, startCoturn, type Coturn } from '../turn/coturn'
import { whenAvailable } from '../services'
import { FIXTURES, chromiumMissing, launch, openPages, page, startServer, until, type Server } from './helpers'

/** What the tests of a file share: one coturn and one Chromium. */
export interface RelayEnv {
  coturn: () => Coturn
  context: () => BrowserContext
}

/**
 * Declares the file's tests with one coturn (knowing `secret`) and one Chromium, started before
 * them and stopped after; without coturn or Chromium they are skipped, loudly.
 */
export function withCoturn (title: string, secret: string, tests: (env: RelayEnv) => void): void {
  whenAvailable(coturnMissing(), title, () => {
    if (chromiumMissing(t)) return
    let turn: Coturn | undefined
    let context: BrowserContext | undefined
    t.before(async () => {
      turn = await startCoturn({ secret })
      context = await launch(t)
    })
    t.teardown(async () => { await turn?.stop() })
    tests({ coturn: () => turn as Coturn, context: () => context as BrowserContext })
  })
}

/** Connecting, or a counter growing, through the relay on a loaded machine. */
export const CONNECT_TIMEOUT = 30_000

export interface Selected { state: string, local: string, remote: string, relayProtocol: string | null, localAddress: string, ufrag: string | null, roundTripTime: number | null }

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
export const allocated = (username: string): RegExp => new RegExp(`user <${escape(username)}>: incoming packet ALLOCATE processed, success`)
export const unauthorized = (username: string): RegExp => new RegExp(`user <${escape(username)}>: incoming packet \\w+ processed, error 401`)

/** The TURN entry a member must get: its own id in the username, signed with `secret`. */
export function expectedTurn (url: string, secret: string, id: string, expiry: number): Required<IceServer> {
  const username = `${expiry}:${id}`
  return { urls: url, username, credential: turnRestCredential(secret, username) }
}

/** A server with `opts` and two new pages joined to one pool through it, closed when `t` ends. */
export async function relayPages (t: Test, env: RelayEnv, opts: Partial<RtcSignalOptions>): Promise<{ pages: Page[], ids: string[], server: Server }> {
  const server = await startServer(t, {
    ...opts,
    routes: (app) => {
      app.get('/test', async (_request, reply) => reply.type('text/html').send(page('/rtc/client.js', '/test/harness.js', '/test/relay.js')))
      app.get('/test/relay.js', async (_request, reply) => reply.type('text/javascript').send(readFileSync(join(FIXTURES, 'relay.js'))))
    }
  })
  const pages = await openPages(env.context(), `${server.origin}/test`, 2)
  t.teardown(async () => { for (const p of pages) await p.close() })
  const pool = `relay-${randomUUID()}`
  const ids: string[] = []
  // One after the other: the first is the impolite side, which offers first.
  for (const p of pages) ids.push(await p.evaluate(([url, pool]) => (globalThis as any).relay.join(url, pool), [server.ws, pool] as const))
  return { pages, ids, server }
}

export const state = async (p: Page, path: string): Promise<any> => await p.evaluate((path) => path.split('.').reduce((o: any, k) => o?.[k], (globalThis as any).relay.state), path)
export const selected = async (p: Page, peer: string): Promise<Selected | null> => await p.evaluate((peer) => (globalThis as any).relay.selected(peer), peer)

/**
 * Waits until the connection to `peer` is connected on a relayed pair (after an ICE restart: on new
 * ICE credentials and a new relay allocation, not `previous`); returns the pair.
 */
export async function relayedPair (p: Page, peer: string, what: string, previous: Selected | null = null): Promise<Selected> {
  return await until(what, async () => {
    const pair = await selected(p, peer)
    const ok = pair !== null && pair.state === 'succeeded' && pair.local === 'relay' &&
      (previous === null || (pair.ufrag !== previous.ufrag && pair.localAddress !== previous.localAddress))
    return ok ? pair : null
  }, CONNECT_TIMEOUT) as Selected
}

/** The error events a page's pool dispatched (fixtures/harness.js). */
export async function pageErrors (p: Page): Promise<unknown[]> {
  return await p.evaluate(() => (globalThis as any).harness.state.errors)
}
