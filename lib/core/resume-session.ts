import { CLOSE_CODES, isPoolName, resumedMessage, type FrameData } from '../protocol'
import type { ClaimResult } from '../adapters/adapter'
import type { Endpoint } from './endpoint'
import { tokenHash, tokenTarget, type Resumable } from './resume'
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
  /** The new socket is still open. */
  open (): boolean
  /** A member of another process is being taken over: this connection becomes member `id`; frames to it are held in `resumable`. */
  claim (id: string, resumable: Resumable): void
  /** The member is here: it goes on on the new socket. */
  claimed (): void
  /** The claim failed: the member leaves if it came here; the connection goes on as its own. */
  unclaim (): Promise<void>
}

/**
 * `rtc:resume` as a socket's first frame (docs/protocol.md, "Resume after a blip"): the suspended
 * member its token names goes on on this socket, after the join hook said yes again, with the
 * frames after the `received`-th replayed, in order; `resume-failed` otherwise (never a gap).
 */
export async function resume (session: Session, host: ResumeHost, data: FrameData): Promise<void> {
  const { ctx } = host
  const { resumes, clock, cluster } = ctx
  const ip = session.endpoint.request.ip
  const publish: Publish = (result, peer, pool, replayed = 0) => {
    if (channels.resume.hasSubscribers) channels.resume.publish({ node: cluster.node, event: 'resume', peer, pool, result, replayed })
  }
  const fail: Fail = (result, peer = null, pool = null) => {
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
  if (found === null && resumes !== null && ctx.adapter.claim !== undefined) {
    await resumeElsewhere(session, host, token, received, fail, publish)
    return
  }
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
  ctx.adapter.markSuspended?.(pool, member.id, false)
  resumed(host, member, found, pool, frames, publish)
}

/** The member goes on: rtc:resumed with a new token, then the frames it missed, in order. */
function resumed (host: ResumeHost, member: Endpoint, resumable: Resumable, pool: string, frames: readonly string[], publish: Publish): void {
  const { cluster, ice, log, events } = host.ctx
  // rtc:resumed and the replayed frames are not counted again: the replayed ones were counted when first written.
  cluster.write(member, resumedMessage(member.id, pool, resumable.issue(pool, member.id).token), false)
  for (const text of frames) cluster.write(member, text, false)
  // Credentials issued before the blip may be near their end: fresh ones after the replay (rtc:ice, counted).
  ice?.refresh(member).catch((err: unknown) => log.error({ peer: member.id, err }, 'rtc: ICE refresh failed'))
  member.request.log.info({ peer: member.id, pool, replayed: frames.length }, 'rtc: resumed')
  publish('resumed', member.id, pool, frames.length)
  events.emit('resume', { endpoint: member, pool, id: member.id })
}

type Publish = (result: ResumeResult, peer: string | null, pool: string | null, replayed?: number) => void
type Fail = (result: ResumeResult, peer?: string | null, pool?: string | null) => void

/**
 * A token this process does not know: its member may be suspended on another process. The
 * adapter moves it here (its peers see nothing) with the frames its old process held; then the
 * join hook is asked, as for a resume there; any failure ends the member (one rtc:close) and is
 * `resume-failed` here, and the connection goes on as a fresh one.
 */
async function resumeElsewhere (session: Session, host: ResumeHost, token: string, received: number, fail: Fail, publish: Publish): Promise<void> {
  const { ctx } = host
  const { cluster, adapter, resumes } = ctx
  const named = tokenTarget(token)
  const endpoint = session.endpoint
  // A token that names no pool this server could have (forged) is refused before any adapter work.
  if (named === null || adapter.claim === undefined || resumes === null || !isPoolName(named.pool, ctx.options.maxPoolNameLength) ||
    cluster.endpoint(named.id) !== undefined || (endpoint.boundPool !== null && endpoint.boundPool !== named.pool)) {
    fail('unknown-token')
    return
  }
  const { pool, id } = named
  const resumable = resumes.create(session)
  host.claim(id, resumable)
  let claim: ClaimResult
  try {
    claim = await adapter.claim(pool, id, tokenHash(token), received)
  } catch (err) {
    ctx.log.error({ err, peer: id, pool }, 'rtc: claiming a member of another process failed')
    claim = { ok: false, result: 'unknown-token' }
  }
  let result: ResumeResult | null = claim.ok ? null : claim.result
  // A refusal by the hook is sent once the connection is its own again (what is written to the member meanwhile is held).
  let refusal: Parameters<Refuse> | null = null
  if (claim.ok && endpoint.pool === pool) {
    resumable.prepend(claim)
    resumable.unfence()
    let allowed: string | null = null
    await host.admission.run(async () => { allowed = await host.admission.askHook(pool, RESUME, endpoint, (...args) => { refusal = args }) })
    if (allowed === null) result = 'denied'
  } else if (claim.ok) {
    result = 'expired' // it left meanwhile (kicked, its pool closed)
  }
  const frames = result === null ? resumable.after(received) : null
  if (frames === null || !host.open()) {
    await host.unclaim()
    if (!host.open()) return
    if (refusal !== null) host.refuse(...(refusal as Parameters<Refuse>))
    fail(result ?? 'frames-lost', id, pool)
    return
  }
  host.claimed()
  resumed(host, endpoint, resumable, pool, frames, publish)
}
