// Awaiting what clients receive, instead of sleeping: the peers a client knows, and a condition over
// its frames that becomes true on some later frame.
import type { Client, Message } from '../helpers'

/**
 * The peers `c` may name (docs/protocol.md, rule 9): rtc:joined's peers and each rtc:peer, minus each
 * rtc:close; kept up to date as frames arrive (what it received so far is replayed first).
 */
export function trackPeers (c: Client): Set<string> {
  const known = new Set<string>()
  const apply = (m: Message): void => {
    if (m.type === 'rtc:joined') for (const p of m.data.peers as string[]) known.add(p)
    else if (m.type === 'rtc:peer') known.add(m.data.id)
    else if (m.type === 'rtc:close') known.delete(m.data.id)
  }
  for (const m of c.received) apply(m)
  c.ws.on('message', (data) => apply(JSON.parse(String(data)) as Message))
  return known
}

/** True when `known` holds exactly `ids`. */
export function knowsExactly (known: Set<string>, ids: string[]): boolean {
  return known.size === ids.length && ids.every((id) => known.has(id))
}

/**
 * Resolves true as soon as `check()` holds, now or after any later frame `c` receives; false after
 * `ms` (so that a test states what failed instead of hanging).
 */
export async function until (c: Client, check: () => boolean, ms = 10_000): Promise<boolean> {
  if (check()) return true
  return await new Promise((resolve) => {
    const onMessage = (): void => { if (check()) finish(true) }
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      c.ws.removeListener('message', onMessage)
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), ms)
    c.ws.on('message', onMessage)
  })
}

/**
 * Background relay: every `everyMs`, `c` sends an rtc:candidate to every peer it knows (so a frame
 * naming a peer at the wrong time shows up in rule 9). Returns a function that stops it.
 */
export function signalKnownPeers (c: Client, everyMs = 20): () => void {
  const known = trackPeers(c)
  const timer = setInterval(() => {
    if (c.ws.readyState !== 1) return
    for (const id of known) c.send('rtc:candidate', { for: id, candidate: { candidate: 'x' } })
  }, everyMs)
  return () => clearInterval(timer)
}
