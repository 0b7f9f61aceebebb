// The ceiling: an ssp-v2 forwarder on `ws` that parses no JSON on the relay path. It finds the
// target id in the frame's bytes ("to"/"for", which the bench's frames put first in `data`) and
// forwards the rest of the frame as it came, after the sender's id: no UTF-8 decoding, no
// JSON.parse or JSON.stringify, no validation, no rate limit, no heartbeat. Joins and leaves are
// the naive relay's (server.mjs). No server that reads the frames can relay them for less CPU.
import { membership } from './server.mjs'

const TEXT = { binary: false }
const SDP = Buffer.from('{"type":"rtc:sdp","data":{"to":"')
const CANDIDATE = Buffer.from('{"type":"rtc:candidate","data":{"for":"')
const SDP_OUT = Buffer.from('{"type":"rtc:sdp","data":{"peer":"')
const CANDIDATE_OUT = Buffer.from('{"type":"rtc:candidate","data":{"from":"')
const QUOTE = 0x22

/** When `buf` starts with `head`: [the target id up to its closing quote, the offset after that quote]; else null. */
function target (buf, head) {
  if (buf.length <= head.length || buf.compare(head, 0, head.length, 0, head.length) !== 0) return null
  const end = buf.indexOf(QUOTE, head.length)
  return end === -1 ? null : [buf.latin1Slice(head.length, end), end + 1]
}

export function attachCeiling (wss) {
  const state = membership()
  const { sockets } = state

  wss.on('connection', (ws) => {
    let id = null
    let idBuf = null // the sender's id and its closing quote
    let pool = null
    ws.on('error', () => {})

    ws.on('message', (buf) => {
      if (id !== null) {
        // {"type":"rtc:sdp","data":{"to":"ID",REST → {"type":"rtc:sdp","data":{"peer":"SENDER",REST
        const sdp = target(buf, SDP)
        const found = sdp ?? target(buf, CANDIDATE)
        if (found !== null) {
          const to = sockets.get(found[0])
          if (to !== undefined) to.send(Buffer.concat([sdp !== null ? SDP_OUT : CANDIDATE_OUT, idBuf, buf.subarray(found[1])]), TEXT)
          return
        }
      }
      let msg
      try { msg = JSON.parse(buf) } catch { return }
      if (msg.type !== 'rtc:join' || id !== null) return
      pool = msg.data.pool
      id = state.join(ws, pool)
      idBuf = Buffer.from(id + '"')
    })

    ws.on('close', () => {
      if (id !== null) state.leave(id, pool)
    })
  })
}
