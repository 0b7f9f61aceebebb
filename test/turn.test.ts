// The TURN REST credentials of lib/ice.ts against a real coturn on loopback: what issue() hands
// out gets relay allocations; a wrong secret or an expired credential is refused with 401.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { normalizeIceServers, type IceServer, type TurnRestServer } from '../lib/ice'
import { coturnMissing, startCoturn, uclient, type Coturn } from './turn/coturn'
import { whenAvailable } from './services'

const CURRENT = `current-${randomUUID()}`
const NEXT = `next-${randomUUID()}`
const TTL = 600

whenAvailable(coturnMissing(), 'TURN REST credentials against coturn', () => {
  let turn: Coturn | undefined
  // One coturn that knows both secrets, as during a rotation.
  t.before(async () => { turn = await startCoturn({ secrets: [CURRENT, NEXT] }) })
  t.teardown(async () => { await turn?.stop() })
  const coturn = (): Coturn => turn as Coturn

  async function credentialFor (secret: TurnRestServer['secret'], now = Date.now()): Promise<Required<IceServer> & { urls: string }> {
    const ice = normalizeIceServers([{ urls: coturn().url, secret, ttl: TTL }])
    const { servers: [server] } = await (ice as NonNullable<typeof ice>).issue({ id: randomUUID() }, now)
    return server as Required<IceServer> & { urls: string }
  }

  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const allocated = (username: string): RegExp => new RegExp(`user <${escape(username)}>: incoming packet ALLOCATE processed, success`)
  const unauthorized = (username: string): RegExp => new RegExp(`user <${escape(username)}>: incoming packet message processed, error 401: Unauthorized`)

  t.test('a credential from issue() gets relay allocations through coturn', async (t) => {
    const server = await credentialFor(CURRENT)
    t.equal(server.urls, coturn().url)
    const run = await uclient(coturn(), server.username, server.credential)
    t.equal(run.code, 0, 'turnutils_uclient exits 0', { output: run.output })
    t.match(run.output, /Received relay addr: 127\.0\.0\.1:\d+/)
    t.match(run.output, /tot_send_msgs=2, tot_recv_msgs=2/, 'the message of each client came back through the relays')
    await coturn().waitForLog(allocated(server.username))
    t.notMatch(coturn().log(), unauthorized(server.username))
  })

  t.test('rotation: signed with the second secret coturn knows, it is accepted too', async (t) => {
    const server = await credentialFor([NEXT, CURRENT]) // the new secret first: it signs
    const run = await uclient(coturn(), server.username, server.credential)
    t.equal(run.code, 0, 'turnutils_uclient exits 0', { output: run.output })
    await coturn().waitForLog(allocated(server.username))
  })

  t.test('a credential signed with a secret coturn does not know is refused (401)', async (t) => {
    const server = await credentialFor(`wrong-${randomUUID()}`)
    const run = await uclient(coturn(), server.username, server.credential)
    t.not(run.code, 0, 'turnutils_uclient fails', { output: run.output })
    t.match(run.output, /Cannot complete Allocation/)
    await coturn().waitForLog(unauthorized(server.username))
    t.notMatch(coturn().log(), allocated(server.username))
  })

  t.test('an expired credential is refused (401)', async (t) => {
    // Issued TTL + 60 s ago: its expiry, in the username, is a minute in the past.
    const server = await credentialFor(CURRENT, Date.now() - (TTL + 60) * 1000)
    t.ok(Number(server.username.split(':')[0]) < Date.now() / 1000, 'the expiry in the username is past')
    const run = await uclient(coturn(), server.username, server.credential)
    t.not(run.code, 0, 'turnutils_uclient fails', { output: run.output })
    t.match(run.output, /Cannot complete Allocation/)
    await coturn().waitForLog(unauthorized(server.username))
    t.notMatch(coturn().log(), allocated(server.username))
  })
})
