// A small ssp-v2 server that behaves as PyRTC 2.0.x does where docs/protocol.md says this project
// differs: it relays rtc:sdp/rtc:candidate to any id on the server, across pools (rule 3); its
// loop dies on a frame that is not JSON; it keeps empty pools (rule 6). Everything else follows
// the protocol, so the conformance command must report exactly those differences.
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

/** What the dead loop looks like from outside: nothing answers any more (handshakes included), or everything is closed. */
export type Crash = 'hang' | 'close'

interface Member {
  ws: WebSocket
  pool: string
}

function isObject (v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export async function pyrtcLike (crash: Crash): Promise<{ url: string, crashed: () => boolean, close: () => Promise<void> }> {
  const members = new Map<string, Member>()
  const pools = new Map<string, string[]>() // never removed, even when empty
  const held: Socket[] = []
  let dead = false
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    // A dead loop never completes a handshake: the request is held until close().
    verifyClient: (info, done) => { if (dead) held.push(info.req.socket); else done(true) }
  })
  await once(wss, 'listening')

  const send = (ws: WebSocket, type: string, data: unknown): void => { ws.send(JSON.stringify({ type, data })) }

  const die = (): void => {
    dead = true
    if (crash === 'close') {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
    }
  }

  wss.on('connection', (ws) => {
    let id: string | null = null
    const error = (reason: string): void => { send(ws, 'rtc:error', { message: reason, reason }) }
    ws.on('message', (raw, isBinary) => {
      if (dead) return
      if (isBinary) return error('invalid-frame')
      let frame: unknown
      try {
        frame = JSON.parse(raw.toString())
      } catch {
        die()
        return
      }
      if (!isObject(frame) || typeof frame.type !== 'string' || frame.type === '' || !isObject(frame.data)) return error('invalid-frame')
      const { type, data } = frame
      if (type === 'rtc:join') {
        if (id !== null) return error('already-joined')
        if (typeof data.pool !== 'string' || data.pool === '') return error('missing-pool')
        const pool = pools.get(data.pool) ?? []
        pools.set(data.pool, pool)
        id = randomUUID()
        const descriptions: Record<string, null> = { [id]: null }
        for (const peer of pool) descriptions[peer] = null
        send(ws, 'rtc:joined', { client_id: id, peers: [...pool], descriptions, pool: data.pool })
        for (const peer of pool) send(members.get(peer)!.ws, 'rtc:peer', { id, description: null })
        pool.push(id)
        members.set(id, { ws, pool: data.pool })
        return
      }
      if (type === 'rtc:sdp' || type === 'rtc:candidate') {
        if (id === null) return error('not-joined')
        const to = type === 'rtc:sdp' ? data.to : data.for
        if (typeof to !== 'string' || to === '') return error('missing-target')
        if (type === 'rtc:sdp' && (!isObject(data.description) || typeof data.description.type !== 'string' || typeof data.description.sdp !== 'string')) {
          return error('invalid-description')
        }
        const target = members.get(to) // any pool: PyRTC looks the id up server-wide
        if (target === undefined) return error('unknown-peer')
        if (type === 'rtc:sdp') send(target.ws, 'rtc:sdp', { peer: id, description: data.description })
        else send(target.ws, 'rtc:candidate', { from: id, candidate: data.candidate })
        return
      }
      if (type.startsWith('rtc:')) error('unknown-action')
    })
    ws.on('close', () => {
      if (id === null || dead) return
      const pool = members.get(id)!.pool
      members.delete(id)
      const rest = pools.get(pool)!.filter((peer) => peer !== id)
      pools.set(pool, rest)
      for (const peer of rest) send(members.get(peer)!.ws, 'rtc:close', { id, uid: id })
    })
  })

  const { port } = wss.address() as { port: number }
  return {
    url: `ws://127.0.0.1:${port}/`,
    crashed: () => dead,
    close: async () => {
      for (const socket of held) socket.destroy()
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    }
  }
}
