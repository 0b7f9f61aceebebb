#!/usr/bin/env node
// The relay's JavaScript path alone, in one process, without sockets, system calls or ws: CPU per
// relayed frame of the bench's mix (1 offer + 4 candidates) for the naive relay's handler, the
// ceiling's, and the plugin's core (Session → ClusterView → Endpoint.send into a socket that only
// measures the frame). What each server adds per frame to what every ws server pays.
// usage: node bench/hotpath.mjs [DIST_DIR]   (after npm run build; DIST_DIR: another build, to compare)
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { pairFrames } from './sdp.mjs'

const dist = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist'))
const require = createRequire(import.meta.url)
const { createCore } = require(path.join(dist, 'core', 'core.js'))
const { normalizeOptions } = require(path.join(dist, 'options.js'))
const log = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }))
const ROUNDS = 5
const BURSTS = 40_000

function fakeSocket () {
  const listeners = {}
  return {
    readyState: 1,
    bufferedAmount: 0,
    sent: 0,
    last: null,
    send (data) {
      this.sent++
      this.last = data
      Buffer.byteLength(data) // what ws does first with a string
    },
    ping () {},
    close () {},
    terminate () {},
    on (event, fn) {
      listeners[event] = fn
      return this
    },
    emit (event, ...args) { listeners[event]?.(...args) }
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))
// as deployed, with the rate limit high enough for a tight loop
const core = createCore(normalizeOptions({ privatePools: false, rateLimit: { max: 1e9, timeWindow: 1000 } }), log)
await core.start()
const [a, b] = [fakeSocket(), fakeSocket()]
for (const socket of [a, b]) {
  core.connect(socket, { id: 'req', log: log.child({ reqId: 'req' }), query: {}, headers: {}, params: {} }, null)
  socket.emit('message', Buffer.from(JSON.stringify({ type: 'rtc:join', data: { pool: 'p' } })), false)
  for (let i = 0; i < 100 && socket.last === null; i++) await settle()
}
const joined = JSON.parse(b.last).data
const [aId, bId] = [joined.peers[0], joined.client_id]

const frames = pairFrames(bId)
const mix = [frames.sdp('1.1.1'), ...[2, 3, 4, 5].map((seq) => frames.candidate(`1.${seq}.1`))]
const sockets = new Map([[bId, b]])
const naive = (raw) => {
  const msg = JSON.parse(raw)
  const data = msg.data
  if (msg.type === 'rtc:sdp') sockets.get(data.to)?.send(JSON.stringify({ type: 'rtc:sdp', data: { peer: aId, description: data.description } }))
  else sockets.get(data.for)?.send(JSON.stringify({ type: 'rtc:candidate', data: { from: aId, candidate: data.candidate } }))
}
const heads = { sdp: Buffer.from('{"type":"rtc:sdp","data":{"to":"'), candidate: Buffer.from('{"type":"rtc:candidate","data":{"for":"') }
const outs = { sdp: Buffer.from('{"type":"rtc:sdp","data":{"peer":"'), candidate: Buffer.from('{"type":"rtc:candidate","data":{"from":"') }
const sender = Buffer.from(aId + '"')
const ceiling = (buf) => {
  const kind = buf.compare(heads.sdp, 0, heads.sdp.length, 0, heads.sdp.length) === 0 ? 'sdp' : 'candidate'
  const end = buf.indexOf(34, heads[kind].length)
  sockets.get(buf.latin1Slice(heads[kind].length, end))?.send(Buffer.concat([outs[kind], sender, buf.subarray(end + 1)]))
}
const plugin = (buf) => a.emit('message', buf, false)

const results = { naive: [], ceiling: [], plugin: [] }
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, relay] of [['naive', naive], ['ceiling', ceiling], ['plugin', plugin]]) {
    const before = process.cpuUsage()
    for (let i = 0; i < BURSTS; i++) for (const frame of mix) relay(frame)
    const used = process.cpuUsage(before)
    results[name].push((used.user + used.system) / (BURSTS * mix.length))
    await settle() // the plugin's end-of-tick job
  }
}
console.log(`${dist}: µs of CPU per relayed frame, median of ${ROUNDS} rounds of ${BURSTS * mix.length} frames`)
for (const [name, list] of Object.entries(results)) {
  list.sort((x, y) => x - y)
  console.log(`${name.padEnd(8)} ${list[ROUNDS >> 1].toFixed(2)}  (${list.map((x) => x.toFixed(2)).join(' ')})`)
}
if (JSON.parse(b.last).data.from !== aId) throw new Error('the plugin did not relay')

await core.dispose()
