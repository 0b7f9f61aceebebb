// The naive relay (bench/baseline/server.mjs) behind Fastify: the same relay code, each socket
// reaching it through a @fastify/websocket route, with the logger the plugin's bench server uses
// (info, written synchronously to /dev/null). What Fastify alone adds to a connection (routing,
// the route's hooks, Request and Reply, the request's child logger, the `incoming request` line)
// before any signalling is done: the yardstick that tells the plugin's own cost per join apart.
import { EventEmitter } from 'node:events'
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import pino from 'pino'
import { attachBaseline } from '../baseline/server.mjs'
import { serve } from './harness.mjs'

const app = Fastify({ logger: { level: 'info', stream: pino.destination({ dest: '/dev/null', sync: true }) } })
await app.register(websocket, { options: { perMessageDeflate: false } })
// attachBaseline listens for 'connection' as on a WebSocketServer.
const sockets = new EventEmitter()
attachBaseline(sockets)
app.get('/rtc', { websocket: true }, (socket) => { sockets.emit('connection', socket) })
await app.listen({ host: '127.0.0.1', port: 0 })
serve({ port: app.server.address().port, path: '/rtc', close: () => app.close() })
