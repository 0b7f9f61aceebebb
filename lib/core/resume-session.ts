import { CLOSE_CODES, resumedMessage, type FrameData } from '../protocol'
import type { Admission } from './admission'
import { channels, type ResumeResult } from './diagnostics'
import type { SocketLike } from './endpoint'
import type { Refuse } from './relay'
import type { Session, SessionContext } from './session'

const RESUME = 'rtc:resume'

/** What the resume procedure may do with the session of the new socket. */
export interface ResumeHost {
  readonly ctx: SessionContext
  /** The new socket. */
  readonly socket: SocketLike | null
  readonly admission: Admission
  readonly refuse: Refuse
  /** Closes the new socket (too many failed resumes). */
  drop (code: number, text: string): void
  /** The socket now belongs to the resumed member's session: this one stops listening, unregistered. */
  handOver (): void
}

/**
 * `rtc:resume` as a socket's first frame (docs/protocol.md, "Resume after a blip"): the suspended
 * member its token names goes on on this socket, after the join hook said yes again, with the
 * frames after the `received`-th replayed, in order; `resume-failed` otherwise (never a gap).
 */
export async function resume (session: Session, host: ResumeHost, data: FrameData): Promise<void> {
  const { ctx } = host
  const { resumes, clock, cluster, events } = ctx
  const ip = session.endpoint.request.ip
  const publish = (result: ResumeResult, peer: string | null, pool: string | null, replayed = 0): void => {
    if (channels.resume.hasSubscribers) channels.resume.publish({ node: cluster.node, event: 'resume', peer, pool, result, replayed })
  }
  const fail = (result: ResumeResult, peer: string | null = null, pool: string | null = null): void => {
    if (result !== 'denied') host.refuse('resume-failed', undefined, { type: RESUME })
    resumes?.failed(ip, clock.now())
    session.endpoint.request.log.info({ peer, pool, result }, 'rtc: resume failed')
    publish(result, peer, pool)
  }
  if (resumes !== null && !resumes.allowed(ip, clock.now())) {
    // Too many failed resumes from this address: the token is not even looked at.
    host.refuse('resume-failed', 'Too many failed resumes from this address', { type: RESUME })
    publish('throttled', null, null)
    host.drop(CLOSE_CODES.policy, 'too many failed resumes')
    return
  }
  const { token, received } = data
  if (typeof token !== 'string' || typeof received !== 'number' || !Number.isSafeInteger(received) || received < 0) {
    host.refuse('invalid-frame', 'rtc:resume needs "token": a string, and "received": an integer >= 0', { type: RESUME })
    return
  }
  const found = resumes?.lookup(token) ?? null
  if (found === null || found === 'expired' || found.resuming) {
    fail(found === 'expired' ? 'expired' : 'unknown-token')
    return
  }
  const owner = found.owner
  const member = owner.endpoint
  const pool = member.pool
  if (pool === null) {
    fail('expired')
    return
  }
  // A socket the server still holds open (half-open: the client already lost it) is given up now.
  if (!owner.suspended) {
    member.terminate()
    owner.suspend()
  }
  const failed = (): void => {
    found.take()
    owner.end('resume-failed').catch((err: unknown) => ctx.log.error({ err }, 'rtc: leave failed'))
  }
  if (found.after(received) === null) {
    failed()
    fail('frames-lost', member.id, pool)
    return
  }
  found.resuming = true
  let allowed: string | null = null
  try {
    await host.admission.run(async () => { allowed = await host.admission.askHook(pool, RESUME, member) })
  } finally {
    found.resuming = false
  }
  if (session.endpoint.closed || host.socket === null) return // the new socket went meanwhile: the token is still good
  if (allowed === null) {
    failed()
    fail('denied', member.id, pool)
    return
  }
  const frames = found.ended || !owner.suspended ? null : found.after(received)
  if (frames === null) {
    failed()
    fail(found.ended ? 'expired' : 'frames-lost', member.id, pool)
    return
  }
  const request = session.endpoint.request
  const socket = host.socket
  host.handOver()
  owner.adopt(socket, request)
  found.resumed(clock)
  // rtc:resumed and the replayed frames are not counted again: the replayed ones were counted when first written.
  cluster.write(member, resumedMessage(member.id, pool, found.issue().token), false)
  for (const text of frames) cluster.write(member, text, false)
  // Credentials issued before the blip may be near their end: fresh ones after the replay (rtc:ice, counted).
  ctx.ice?.refresh(member).catch((err: unknown) => ctx.log.error({ peer: member.id, err }, 'rtc: ICE refresh failed'))
  request.log.info({ peer: member.id, pool, replayed: frames.length }, 'rtc: resumed')
  publish('resumed', member.id, pool, frames.length)
  events.emit('resume', { endpoint: member, pool, id: member.id })
}
