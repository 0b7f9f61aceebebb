import { test } from 'tap'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import type { PoolManager } from '../lib/index'
import rtcSignal from '../lib/index'
import { Client } from './helpers'

/** A pino stream keeping every line, parsed. */
function capture (): { stream: Writable, lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      cb()
    }
  })
  return { stream, lines }
}

async function listening (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

test('two registrations in one context fail with FST_RTC_ALREADY_REGISTERED', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(rtcSignal, { privatePools: false })
  await t.rejects(async () => {
    await app.register(rtcSignal, { privatePools: false, prefix: '/other' })
    await app.ready()
  }, { code: 'FST_RTC_ALREADY_REGISTERED', statusCode: 500, message: /own encapsulated context/ })
})

test('two instances in two encapsulated contexts work side by side, without warnings', async (t) => {
  const { stream, lines } = capture()
  const app = Fastify({ logger: { level: 'debug', stream } })
  t.teardown(() => app.close())
  const managers: Record<string, PoolManager> = {}
  const contexts: Record<string, FastifyInstance> = {}
  for (const prefix of ['/a', '/b']) {
    await app.register(async (child) => {
      await child.register(rtcSignal, { privatePools: false, prefix })
      managers[prefix] = child.rtcPools
      contexts[prefix] = child
    })
  }
  const url = await listening(app)
  t.not(managers['/a'], managers['/b'], 'each context has its own PoolManager')
  const a = await Client.open(`${url}/a/room`)
  const b = await Client.open(`${url}/b/room`)
  await a.join('room')
  await b.join('room')
  t.same(a.peers, [], 'the instances share nothing')
  t.same(b.peers, [])
  t.match(await managers['/a'].get('room'), { members: [{ id: a.id }] })
  t.match(await managers['/b'].get('room'), { members: [{ id: b.id }] })
  t.equal(managers['/a'].endpoint(b.id), undefined)
  const injected = new Client(await contexts['/b'].injectWS('/b/room'))
  t.same((await injected.join('room')).peers, [b.id], 'injectWS of the second instance reaches it')
  injected.ws.terminate()
  t.same(lines.filter((l) => l.level >= 40).map((l) => l.msg), [], 'no warning or error was logged')
})
