import { randomBytes } from 'node:crypto'
import { CheckFailure, Connection, summary } from './connection'

/** Each check's sockets, pool names and time budget; `dispose()` closes whatever the check left open. */
export class CheckContext {
  readonly url: string
  readonly timeout: number
  private readonly poolPrefix: string
  private readonly connections: Connection[] = []
  private aborted: string | null = null

  constructor (url: string, poolPrefix: string, timeout: number) {
    this.url = url
    this.poolPrefix = poolPrefix
    this.timeout = timeout
  }

  /** A pool name no other run uses. */
  pool (): string {
    return `${this.poolPrefix}${randomBytes(6).toString('hex')}`
  }

  async open (): Promise<Connection> {
    if (this.aborted !== null) throw new CheckFailure(this.aborted)
    return await Connection.open(this.url, (c) => { this.connections.push(c) })
  }

  /** Opens a socket and joins `pool` (`extra`: more fields for the frame's data); checks the `rtc:joined` it gets. */
  async join (pool: string, extra: Record<string, unknown> = {}): Promise<{ conn: Connection, id: string, joined: Record<string, any> }> {
    const conn = await this.open()
    conn.send('rtc:join', { ...extra, pool })
    const answer = await conn.next(`rtc:joined for pool ${pool}`)
    if (answer.type === 'rtc:error' && answer.data.reason === 'no-such-pool') {
      throw new CheckFailure('the join was refused with no-such-pool: the checks need a server that creates pools on first join (fastify-rtc-signal --public)')
    }
    if (answer.type !== 'rtc:joined') throw new CheckFailure(`expected rtc:joined for pool ${pool}, got ${summary(answer)}`)
    const joined = answer.data
    const problem = joinedProblem(joined)
    if (problem !== null) throw new CheckFailure(`rtc:joined ${problem}`)
    return { conn, id: joined.client_id, joined }
  }

  /**
   * `n` members of one new pool, joined one after another; each earlier member must get
   * `rtc:peer` for each later one.
   */
  async members (n: number, pool = this.pool()): Promise<Array<{ conn: Connection, id: string, joined: Record<string, any> }>> {
    const members: Array<{ conn: Connection, id: string, joined: Record<string, any> }> = []
    for (let i = 0; i < n; i++) {
      const member = await this.join(pool)
      for (const earlier of members) {
        const peer = await earlier.conn.expect('rtc:peer', 'rtc:peer for a member that joined after it')
        if (peer.id !== member.id) throw new CheckFailure(`rtc:peer names ${String(peer.id)}, but the new member's client_id is ${member.id}`)
      }
      members.push(member)
    }
    return members
  }

  /** Time is up: every socket is dropped and every wait fails with `why`. */
  abort (why: string): void {
    this.aborted = why
    for (const c of this.connections) c.abort(why)
  }

  async dispose (): Promise<void> {
    const grace = Math.min(this.timeout, 1000)
    await Promise.all(this.connections.map(async (c) => { await c.close(grace) }))
  }
}

/** What is wrong with an `rtc:joined`'s data, or null. */
export function joinedProblem (data: Record<string, any>): string | null {
  if (typeof data.client_id !== 'string' || data.client_id === '') return 'has no client_id string'
  if (!Array.isArray(data.peers) || !data.peers.every((p: unknown) => typeof p === 'string')) return 'has no peers array of ids'
  const d = data.descriptions as unknown
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return 'has no descriptions object'
  if (!(data.client_id in d)) return 'descriptions has no entry for the member itself'
  for (const peer of data.peers as string[]) {
    if (!(peer in d)) return `descriptions has no entry for peer ${peer}`
  }
  if (typeof data.pool !== 'string' || data.pool === '') return 'has no pool name'
  return null
}
