// The leanest hand-written ssp-v2 relay on `ws`: what a user could write in an
// afternoon. A Map of pools, a Map of id → socket, JSON.parse + JSON.stringify
// per frame, no validation, no rate limiting, no heartbeat. The benchmark's yardstick.
import { randomUUID } from 'node:crypto'
import { WebSocketServer } from 'ws'

function frame (type, data) {
  return JSON.stringify({ type, data })
}

/** Pools (name → Set of ids, in join order) and sockets (id → WebSocket): joins and leaves, as rtcpool expects them. */
export function membership () {
  const pools = new Map()
  const sockets = new Map()
  return {
    pools,
    sockets,
    /** Adds `ws` to `pool`; answers rtc:joined and announces it; returns its new id. */
    join (ws, pool) {
      const id = randomUUID()
      let members = pools.get(pool)
      if (members === undefined) {
        members = new Set()
        pools.set(pool, members)
      }
      const peers = [...members]
      const descriptions = { [id]: null }
      for (const peer of peers) descriptions[peer] = null
      members.add(id)
      sockets.set(id, ws)
      ws.send(frame('rtc:joined', { client_id: id, peers, descriptions, pool }))
      const announce = frame('rtc:peer', { id, description: null })
      for (const peer of peers) sockets.get(peer).send(announce)
      return id
    },
    /** Removes `id` from `pool` and tells the others. */
    leave (id, pool) {
      sockets.delete(id)
      const members = pools.get(pool)
      members.delete(id)
      if (members.size === 0) {
        pools.delete(pool)
        return
      }
      const bye = frame('rtc:close', { id, uid: id })
      for (const peer of members) sockets.get(peer).send(bye)
    }
  }
}

/** Attaches the relay to a WebSocketServer; returns the state for inspection. */
export function attachBaseline (wss) {
  const state = membership()
  const { sockets } = state

  wss.on('connection', (ws) => {
    let id = null
    let pool = null
    ws.on('error', () => {})

    ws.on('message', (raw) => {
      let msg
      try { msg = JSON.parse(raw) } catch { return }
      const data = msg.data
      switch (msg.type) {
        case 'rtc:join': {
          if (id !== null) return
          pool = data.pool
          id = state.join(ws, pool)
          return
        }
        case 'rtc:sdp': {
          const target = sockets.get(data.to)
          if (target !== undefined) target.send(frame('rtc:sdp', { peer: id, description: data.description }))
          return
        }
        case 'rtc:candidate': {
          const target = sockets.get(data.for)
          if (target !== undefined) target.send(frame('rtc:candidate', { from: id, candidate: data.candidate }))
        }
      }
    })

    ws.on('close', () => {
      if (id !== null) state.leave(id, pool)
    })
  })

  return { pools: state.pools, sockets }
}

/** Listens on 127.0.0.1 (port 0: any free port) with `attach` (this relay by default) and resolves once listening. */
export async function startBaseline ({ port = 0, attach = attachBaseline } = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false })
  attach(wss)
  await new Promise((resolve, reject) => {
    wss.once('listening', resolve)
    wss.once('error', reject)
  })
  return wss
}
