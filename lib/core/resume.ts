import { createHash, randomBytes } from 'node:crypto'
import type { ResumeOffer } from '../protocol'
import { unrefTimeout, type Clock, type TimerHandle } from './clock'
import type { Session } from './session'

/** The bounds of a resumable member's ring (the `resume` option). */
export interface ResumeLimits {
  readonly graceMs: number
  readonly maxFrames: number
  readonly maxBytes: number
}

/** A token's stored form: only its SHA-256 is kept, never the token. */
export function tokenHash (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/**
 * A token is 32 random bytes and, after a '.', the pool and the member it was issued to (base64url
 * of JSON `[pool, id]`), so that a process that does not know it can find the member's record in
 * its pool (a resume on another process). Only the random part makes it unguessable; the rest is
 * what the client knows already.
 */
function newToken (pool: string, id: string): string {
  return `${randomBytes(32).toString('base64url')}.${Buffer.from(JSON.stringify([pool, id])).toString('base64url')}`
}

/** The pool and member a token names, or null when it is not one of ours. */
export function tokenTarget (token: string): { pool: string, id: string } | null {
  const dot = token.indexOf('.')
  if (dot < 0) return null
  try {
    const named = JSON.parse(Buffer.from(token.slice(dot + 1), 'base64url').toString()) as unknown
    if (Array.isArray(named) && named.length === 2 && typeof named[0] === 'string' && typeof named[1] === 'string') return { pool: named[0], id: named[1] }
  } catch {}
  return null
}

/** Hashes of tokens whose grace period ended, kept to tell `expired` from `unknown-token` (the newest ones only). */
const MAX_EXPIRED_REMEMBERED = 1024
/** Addresses whose failed-resume bucket is tracked at most; past it the fullest buckets are forgotten. */
const MAX_THROTLED_ADDRESSES = 10_000
const MINUTE = 60_000

/**
 * One resumable member: the count of frames written to it since `rtc:joined`, the most recent of
 * them (references to the serialized strings, bounded by maxFrames/maxBytes) and its token. While
 * suspended it holds the frames addressed to it and runs the grace timer.
 */
export class Resumable {
  /** Frames counted since rtc:joined (rtc:joined and rtc:resumed are not). */
  sent = 0
  /** The session of the member (which outlives its sockets). */
  readonly owner: Session
  /** An rtc:resume with its token is being decided (a second one meanwhile finds nothing). */
  resuming = false
  readonly #registry: Resumes
  readonly #frames: string[] = []
  /** Index in #frames of the oldest frame kept. */
  #head = 0
  #bytes = 0
  /** `sent` when the member was suspended; -1 while connected. */
  #suspendedAt = -1
  #timer: TimerHandle | null = null
  #hash: string | null = null
  #counting = false
  #ended = false
  /** Frames sent straight here while the member is taken over from another process (`fence`); null otherwise. */
  #pending: string[] | null = null
  /** Called (once, in a microtask) when a frame held while suspended had to be dropped. */
  #overflow: (() => void) | null = null

  constructor (registry: Resumes, owner: Session) {
    this.#registry = registry
    this.owner = owner
  }

  /** Frames are counted (the member got its rtc:joined). */
  get counting (): boolean {
    return this.#counting
  }

  get suspended (): boolean {
    return this.#suspendedAt >= 0
  }

  /** The count of the oldest frame still kept (frames first..sent-1 can be replayed). */
  get first (): number {
    return this.sent - (this.#frames.length - this.#head)
  }

  /** A new token for member `id` of `pool` (the previous one dies), and the offer for rtc:joined; counting starts with the first. */
  issue (pool: string, id: string): ResumeOffer {
    const token = newToken(pool, id)
    this.#registry.forget(this.#hash)
    this.#hash = tokenHash(token)
    this.#registry.register(this.#hash, this)
    this.#registry.announce?.(pool, id, this.#hash)
    this.#counting = true
    return { token, graceMs: this.#registry.limits.graceMs }
  }

  /** A member taken over from another process: frames written to it are counted (and held) from now on, before its count is known. */
  count (): void {
    this.#counting = true
  }

  /**
   * The old process's handover came: its count and the frames after the client's `received` go
   * before what was kept here meanwhile (counted from 0 so far; what waits apart stays apart).
   */
  prepend ({ sent, frames }: { sent: number, frames: readonly string[] }): void {
    const here = this.#frames.slice(this.#head)
    const pending = this.#pending
    this.#pending = null
    this.#frames.length = 0
    this.#head = 0
    this.#bytes = 0
    this.sent = sent - frames.length
    for (const text of frames) this.record(text)
    for (const text of here) this.record(text)
    this.#pending = pending
  }

  /**
   * While a member is taken over from another process: frames sent straight here wait apart, after
   * those the old process hands over or passes on (`recordForwarded`), until `unfence`.
   */
  fence (): void {
    this.#pending = []
  }

  get fenced (): boolean {
    return this.#pending !== null
  }

  /** A frame the old process passed on: before those that wait apart. */
  recordForwarded (text: string): void {
    const pending = this.#pending
    this.#pending = null
    this.record(text)
    this.#pending = pending
  }

  /** The frames that waited apart go after the others, in the order they came. */
  unfence (): void {
    const pending = this.#pending ?? []
    this.#pending = null
    for (const text of pending) this.record(text)
  }

  /** Keeps one frame written (or, while suspended, held) for the member. */
  record (text: string): void {
    if (this.#pending !== null) {
      this.#pending.push(text)
      return
    }
    this.#frames.push(text)
    this.sent++
    this.#bytes += text.length
    const { maxFrames, maxBytes } = this.#registry.limits
    while (this.#frames.length - this.#head > maxFrames || (this.#bytes > maxBytes && this.#head < this.#frames.length)) {
      this.#bytes -= this.#frames[this.#head].length
      this.#frames[this.#head++] = ''
    }
    if (this.#head > 64 && this.#head * 2 > this.#frames.length) {
      this.#frames.splice(0, this.#head)
      this.#head = 0
    }
    if (this.#suspendedAt >= 0 && this.first > this.#suspendedAt && this.#overflow !== null) {
      const overflow = this.#overflow
      this.#overflow = null
      queueMicrotask(overflow)
    }
  }

  /** The frames after the `received`-th, in order; null when some of them are no longer kept (or were never sent). */
  after (received: number): string[] | null {
    if (received > this.sent || received < this.first) return null
    return this.#frames.slice(this.#head + received - this.first)
  }

  /** The socket ended: hold frames, and call `expire` after graceMs or `overflow` when held frames had to be dropped. */
  suspend (clock: Clock, expire: () => void, overflow: () => void): void {
    this.#suspendedAt = this.sent
    this.#overflow = overflow
    this.#timer = unrefTimeout(clock, () => {
      this.#timer = null
      this.#registry.expired(this.#hash)
      expire()
    }, this.#registry.limits.graceMs)
  }

  /** The token was taken by an rtc:resume: it is single use, so it is forgotten now. */
  take (): void {
    this.#registry.forget(this.#hash)
    this.#hash = null
  }

  /** Resumed on a new socket: the grace timer stops. */
  resumed (clock: Clock): void {
    this.#stop(clock)
    this.#suspendedAt = -1
  }

  /** The member left (every way out): its token dies and its timer stops. Idempotent. */
  end (clock: Clock): void {
    if (this.#ended) return
    this.#ended = true
    this.#stop(clock)
    this.#registry.forget(this.#hash)
    this.#hash = null
    this.#frames.length = 0
    this.#head = 0
    this.#bytes = 0
  }

  get ended (): boolean {
    return this.#ended
  }

  #stop (clock: Clock): void {
    this.#overflow = null
    if (this.#timer === null) return
    clock.clearTimeout(this.#timer)
    this.#timer = null
  }
}

/** What a token names: a resumable member, one whose grace period ended, or nothing known. */
export type TokenLookup = Resumable | 'expired' | null

/**
 * The resumable members of one server, by token hash (a token is stored only as its SHA-256),
 * and the failed-resume bucket of each address.
 */
export class Resumes {
  readonly limits: ResumeLimits
  readonly #byHash = new Map<string, Resumable>()
  readonly #expired = new Set<string>()
  readonly #failures: FailureThrottle | null
  /** Tells the adapter of each token issued (a resume on another process finds the member by it); null for a single process. */
  readonly announce: ((pool: string, id: string, tokenHash: string) => void) | null

  constructor (limits: ResumeLimits, failuresPerMinute: number, announce: ((pool: string, id: string, tokenHash: string) => void) | null = null) {
    this.limits = limits
    this.announce = announce
    this.#failures = failuresPerMinute === 0 ? null : new FailureThrottle(failuresPerMinute)
  }

  create (owner: Session): Resumable {
    return new Resumable(this, owner)
  }

  /** The member a token names (the token is not taken: see Resumable.take). */
  lookup (token: string): TokenLookup {
    const h = tokenHash(token)
    return this.#byHash.get(h) ?? (this.#expired.has(h) ? 'expired' : null)
  }

  /** False when `ip` has no failed resume left in its bucket (then the token is not even looked at). */
  allowed (ip: string, now: number): boolean {
    return this.#failures?.allowed(ip, now) ?? true
  }

  /** A failed resume from `ip`: takes one from its bucket. */
  failed (ip: string, now: number): void {
    this.#failures?.take(ip, now)
  }

  /** @internal */
  register (h: string, member: Resumable): void {
    this.#byHash.set(h, member)
  }

  /** @internal */
  forget (h: string | null): void {
    if (h !== null) this.#byHash.delete(h)
  }

  /** @internal The grace period of the member with this token ended. */
  expired (h: string | null): void {
    if (h === null) return
    this.#byHash.delete(h)
    this.#expired.add(h)
    if (this.#expired.size > MAX_EXPIRED_REMEMBERED) this.#expired.delete(this.#expired.values().next().value as string)
  }
}

/** Failed resumes per address: a token bucket of `perMinute`, refilled continuously. */
class FailureThrottle {
  readonly #perMinute: number
  readonly #buckets = new Map<string, { tokens: number, at: number }>()

  constructor (perMinute: number) {
    this.#perMinute = perMinute
  }

  #level (ip: string, now: number): { tokens: number, at: number } {
    let bucket = this.#buckets.get(ip)
    if (bucket === undefined) {
      bucket = { tokens: this.#perMinute, at: now }
      if (this.#buckets.size >= MAX_THROTLED_ADDRESSES) this.#prune(now)
      this.#buckets.set(ip, bucket)
    } else {
      bucket.tokens = Math.min(this.#perMinute, bucket.tokens + (now - bucket.at) * this.#perMinute / MINUTE)
      bucket.at = now
    }
    return bucket
  }

  allowed (ip: string, now: number): boolean {
    return this.#level(ip, now).tokens >= 1
  }

  take (ip: string, now: number): void {
    const bucket = this.#level(ip, now)
    bucket.tokens = Math.max(0, bucket.tokens - 1)
  }

  /** Forgets the buckets that are full again (as good as new); the oldest one when none is. */
  #prune (now: number): void {
    for (const [ip, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMinute / MINUTE >= this.#perMinute) this.#buckets.delete(ip)
    }
    if (this.#buckets.size >= MAX_THROTLED_ADDRESSES) this.#buckets.delete(this.#buckets.keys().next().value as string)
  }
}
