import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { test } from 'tap'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ConnectionRequest } from '../lib/core/endpoint'
import { Client, listen } from './helpers'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

declare module 'fastify' {
  interface FastifyRequest { user?: { name: string } }
}

test('a join hook gets the request fields and what the app\'s hooks set, not the raw request', async (t) => {
  let seen: ConnectionRequest | null = null
  const { app, url } = await listen(t, {
    privatePools: false,
    routeOptions: { onRequest: async (request: FastifyRequest) => { request.user = { name: String((request.query as Record<string, string>).name) } } },
    joinHook: async (request) => { seen = request }
  })
  const c = await Client.open(`${url}/rtc?name=Ada`, { headers: { 'x-tenant': 'acme' } })
  await c.join('p')
  const request = seen as unknown as ConnectionRequest
  t.same(request.user, { name: 'Ada' }, 'a field a route hook set')
  t.same(request.query, { name: 'Ada' })
  t.equal(request.headers['x-tenant'], 'acme')
  t.match(request, { method: 'GET', url: '/rtc?name=Ada', ip: '127.0.0.1', hostname: '127.0.0.1', protocol: 'http', params: {} })
  t.type(request.id, 'string')
  t.type(request.log.info, 'function')
  t.equal(request.raw, undefined, 'not the Node request')
  t.equal(app.rtcPools.endpoint(c.id)?.request, request, 'endpoint.request is the same object')
})

test('values many connections share are kept once, and read the same on every connection', async (t) => {
  const seen: ConnectionRequest[] = []
  const { url } = await listen(t, { privatePools: false, joinHook: async (request) => { seen.push(request) } })
  const host = new URL(url).host
  for (const path of ['/rtc', '/rtc', '/rtc?token=secret']) {
    const c = await Client.open(`${url}${path}`, { headers: { 'user-agent': 'agent/1.0', cookie: 'a=1' } })
    await c.join('p')
  }
  t.equal(seen.length, 3)
  for (const request of seen) {
    t.match(request.headers, { host, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'user-agent': 'agent/1.0', cookie: 'a=1' })
    t.match(request, { host, hostname: '127.0.0.1' })
  }
  t.same(seen.map((request) => request.url), ['/rtc', '/rtc', '/rtc?token=secret'])
})

test('an open connection keeps neither its upgrade request, its reply nor the HTTP response', async (t) => {
  const refs: Array<WeakRef<object>> = []
  const { url } = await listen(t, {
    privatePools: false,
    routeOptions: {
      onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
        const raw: [IncomingMessage, ServerResponse] = [request.raw, reply.raw]
        for (const object of [request, reply, ...raw]) refs.push(new WeakRef(object))
      }
    }
  })
  const clients = [await Client.open(`${url}/rtc`), await Client.open(`${url}/rtc`), await Client.open(`${url}/rtc`)]
  await clients[0].join('p')
  await clients[1].join('p') // and clients[2] never joins
  await clients[0].expect('rtc:peer')
  t.equal(refs.length, 12)
  gc()
  gc()
  t.same(refs.map((ref) => ref.deref()), Array(12).fill(undefined), 'Request, Reply, IncomingMessage and ServerResponse collected')
  t.same(clients.map((c) => c.ws.readyState), [1, 1, 1], 'the connections are still open')
  clients[1].send('rtc:sdp', { to: clients[0].id, description: { type: 'offer', sdp: 'v=0' } })
  t.match(await clients[0].expect('rtc:sdp'), { peer: clients[1].id }, 'and work')
})
