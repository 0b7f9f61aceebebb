// What a page of a call sees across signalling drops (resume.test.ts, resume-cluster.test.ts):
// the RTCPeerConnections it makes, and its pool's events and frames from a given moment on.

import type { BrowserContext, Page } from 'playwright-core'

/** In every page: count the RTCPeerConnections made. */
export async function countConnections (context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const g = globalThis as any
    const Native = g.RTCPeerConnection
    let made = 0
    g.RTCPeerConnection = class extends Native {
      constructor (...args: unknown[]) {
        super(...args)
        made++
      }
    }
    g.connectionsMade = () => made
  })
}

/** Records, in the page, what the pool and its signalling channel see from now on. */
export async function record (p: Page): Promise<void> {
  await p.evaluate(() => {
    const g = globalThis as any
    const pool = g.harness.state.pool
    const log = { reconnecting: [] as any[], resumed: [] as any[], rejoined: [] as any[], disconnects: [] as any[], closeFrames: [] as string[], peerFrames: [] as string[], errors: [] as any[], pcs: pool._raw_connections, cutAt: 0, resumedAt: 0 }
    pool.events.addEventListener('disconnect', (e: any) => log.disconnects.push(e.detail))
    pool.events.addEventListener('reconnecting', (e: any) => { log.reconnecting.push(e.detail); log.cutAt ||= Date.now() })
    pool.events.addEventListener('resumed', (e: any) => { log.resumed.push(e.detail); log.resumedAt = Date.now() })
    pool.events.addEventListener('rejoined', (e: any) => log.rejoined.push(e.detail))
    pool.events.addEventListener('error', (e: any) => log.errors.push(e.detail))
    pool.signalling.addEventListener('close', (e: any) => log.closeFrames.push(e.detail.id))
    pool.signalling.addEventListener('peer', (e: any) => log.peerFrames.push(e.detail.id))
    g.resumeLog = log
  })
}

export interface Seen { reconnecting: number, resumed: number, rejoined: number, closeFrames: string[], peerFrames: string[], errors: unknown[], samePcs: boolean, made: number, id: string, cutToResumed: number }

export async function seen (p: Page): Promise<Seen> {
  return await p.evaluate(() => {
    const g = globalThis as any
    const log = g.resumeLog
    const pool = g.harness.state.pool
    const now = pool._raw_connections
    return {
      reconnecting: log.reconnecting.length,
      resumed: log.resumed.length,
      rejoined: log.rejoined.length,
      closeFrames: log.closeFrames,
      peerFrames: log.peerFrames,
      errors: log.errors,
      samePcs: now.length === log.pcs.length && now.every((pc: unknown, i: number) => pc === log.pcs[i]),
      made: g.connectionsMade(),
      id: pool.id,
      cutToResumed: log.resumedAt - log.cutAt
    }
  })
}
