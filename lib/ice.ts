// ICE servers handed to each member by the server (docs/protocol.md, "ICE servers from the server"):
// static STUN/TURN entries, TURN REST API credentials (coturn's `use-auth-secret`) signed per peer,
// or a function of the application's. No Fastify here: node:crypto only.
import { createHmac } from 'node:crypto'
import { errors } from './errors'
import type { IceServer, IceServersResult } from './types'

export type { IceServer, IceServersResult }

/**
 * A TURN server that shares a secret with this server (coturn `use-auth-secret` +
 * `static-auth-secret`): every member gets its own short-lived credential, nothing is stored.
 */
export interface TurnRestServer {
  /** `turn:` / `turns:` URLs of that server. */
  urls: string | string[]
  /**
   * The shared secret, or several for rotation: the FIRST one signs, and coturn accepts a credential
   * signed by any secret it knows (one `--static-auth-secret` per secret). To rotate: give coturn the
   * new secret as well, then put it first here, then (after `ttl`) remove the old one from both.
   */
  secret: string | string[]
  /** How long a credential is valid, in seconds (>= 60, <= one year). */
  ttl: number
}

/** The member ICE servers are issued to (the plugin passes its Endpoint, which also has `request` and `description`). */
export interface IcePeer {
  /** The server-assigned peer id; it ends up in TURN REST usernames. */
  readonly id: string
}

/** Computes a member's ICE servers, e.g. from a TURN provider's API; called at each join and refresh. */
export type IceServersProvider<P extends IcePeer = IcePeer> = (peer: P) => IceServersResult | Promise<IceServersResult>

/** The `iceServers` option: a list (static entries and TURN REST entries), a function, or none. */
export type IceServersOption<P extends IcePeer = IcePeer> = Array<IceServer | TurnRestServer> | IceServersProvider<P> | undefined

/**
 * The validated option. Secrets live in a closure: this object has nothing to print, so
 * logging it, `JSON.stringify` or `util.inspect` cannot reveal them.
 */
export interface IceServers<P extends IcePeer = IcePeer> {
  /**
   * A fresh `{ servers, expiresAt }` for `peer`, `now` being ms since the epoch. Rejects (never
   * throws synchronously) when the function form throws or returns something invalid:
   * the caller logs that and sends no ICE servers.
   */
  issue: (peer: P, now?: number) => Promise<IceServersResult>
}

/**
 * Shortest credential lifetime accepted. The refresh goes out at 70-80 % of the lifetime, so a
 * 60 s credential leaves 12-18 s to absorb clock skew between this server and the TURN server and
 * the client's time to apply it; and each refresh is one frame per member.
 */
export const MIN_TURN_TTL = 60
/** Longest lifetime: a credential valid for longer than a year is a static password, and outlives any rotation. */
export const MAX_TURN_TTL = 365 * 24 * 3600
/** Refresh after this fraction of the lifetime, plus up to REFRESH_JITTER, so a pool does not refresh in lockstep. */
export const REFRESH_FRACTION = 0.70
export const REFRESH_JITTER = 0.10
/**
 * The soonest a refresh is scheduled: a provider that returns expired (or nearly expired)
 * credentials is then called at most this often per member, instead of in a loop.
 */
export const MIN_REFRESH_DELAY = 10_000
/** setTimeout fires at once for longer delays (Node clamps to 1 ms): refresh earlier instead. */
export const MAX_REFRESH_DELAY = 2 ** 31 - 1

// RFC 7064 / 7065: scheme ":" host [":" port], and for TURN an optional "?transport=udp|tcp".
const ICE_URL = /^(stuns?|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?(?:\?transport=(?:udp|tcp))?$/i

function invalid (name: string, why: string): Error {
  return new errors.FST_RTC_INVALID_OPTION(name, why)
}

/** Only the type: values here may be secrets. */
function typeOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** URLs are sent to every browser, so they may appear in messages; secrets and credentials never do. */
function validUrls (name: string, value: unknown, turnOnly: boolean): string | string[] {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw invalid(name, 'expected a URL or a non-empty array of URLs, got an empty array')
  list.forEach((url, i) => {
    const where = Array.isArray(value) ? `${name}[${i}]` : name
    if (typeof url !== 'string') throw invalid(where, `expected a stun:, stuns:, turn: or turns: URL, got ${typeOf(url)}`)
    const match = ICE_URL.exec(url)
    const port = match?.[3] === undefined ? 1 : Number(match[3])
    if (match === null || port < 1 || port > 65535 || (url.includes('?') && !/^turns?$/i.test(match[1]))) {
      throw invalid(where, `expected a stun:, stuns:, turn: or turns: URL (host, optional port, ?transport=udp|tcp for TURN only), got ${JSON.stringify(url.slice(0, 200))}`)
    }
    if (turnOnly && !/^turns?$/i.test(match[1])) {
      throw invalid(where, `a TURN REST entry (with a secret) takes turn: or turns: URLs only, got a ${match[1]}: URL`)
    }
  })
  return Array.isArray(value) ? [...value as string[]] : value as string
}

function validSecrets (name: string, value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw invalid(name, `expected a non-empty string, or a non-empty array of them (the first one signs), got ${Array.isArray(value) ? 'an array with an empty or non-string entry' : typeOf(value)}`)
  }
  return [...list as string[]]
}

/** A static entry, checked as the browser would (a TURN URL without username and credential makes RTCPeerConnection throw). */
function validStatic (name: string, entry: Record<string, unknown>): IceServer {
  const urls = validUrls(`${name}.urls`, entry.urls, false)
  const server: IceServer = { urls }
  for (const key of ['username', 'credential'] as const) {
    const v = entry[key]
    if (v !== undefined && typeof v !== 'string') throw invalid(`${name}.${key}`, `expected a string, got ${typeOf(v)}`)
    if (v !== undefined) server[key] = v
  }
  const turn = (Array.isArray(urls) ? urls : [urls]).some((u) => /^turns?:/i.test(u))
  if (turn && (server.username === undefined || server.credential === undefined)) {
    throw invalid(name, 'a turn: or turns: URL needs a username and a credential (or a secret, for TURN REST credentials)')
  }
  return server
}

interface RestEntry { urls: string | string[], secret: string, ttl: number }

function validRest (name: string, entry: Record<string, unknown>): RestEntry {
  if (entry.username !== undefined || entry.credential !== undefined) {
    throw invalid(name, 'a TURN REST entry (with a secret) gets its username and credential from the secret: remove them')
  }
  const urls = validUrls(`${name}.urls`, entry.urls, true)
  // Only the first secret signs; the others matter to the TURN server, not here.
  const [secret] = validSecrets(`${name}.secret`, entry.secret)
  const ttl = entry.ttl
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < MIN_TURN_TTL || ttl > MAX_TURN_TTL) {
    throw invalid(`${name}.ttl`, `expected whole seconds from ${MIN_TURN_TTL} to ${MAX_TURN_TTL}, got ${typeof ttl === 'number' ? String(ttl) : typeOf(ttl)}`)
  }
  return { urls, secret, ttl }
}

/** The TURN REST API credential (coturn `use-auth-secret`): base64(HMAC-SHA1(secret, username)). */
export function turnRestCredential (secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64')
}

function copy (server: IceServer): IceServer {
  return { ...server, urls: Array.isArray(server.urls) ? [...server.urls] : server.urls }
}

/** Checks what the function form returned, with the same rules as the static option. */
function validResult (name: string, value: unknown): IceServersResult {
  if (!isObject(value) || !Array.isArray(value.servers)) {
    throw invalid(name, `expected the function to return { servers: RTCIceServer[], expiresAt: number | null }, got ${typeOf(value)}`)
  }
  const servers = value.servers.map((entry: unknown, i: number) => {
    if (!isObject(entry)) throw invalid(`${name}.servers[${i}]`, `expected an RTCIceServer object, got ${typeOf(entry)}`)
    return validStatic(`${name}.servers[${i}]`, entry)
  })
  const expiresAt = value.expiresAt ?? null
  if (expiresAt !== null && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || expiresAt < 0)) {
    throw invalid(`${name}.expiresAt`, `expected ms since the epoch or null, got ${typeOf(expiresAt)}`)
  }
  return { servers, expiresAt }
}

/**
 * Validates the `iceServers` option once, at registration (throws FST_RTC_INVALID_OPTION naming the
 * entry, never quoting a secret or credential). Returns null when none are configured.
 */
export function normalizeIceServers<P extends IcePeer = IcePeer> (value: IceServersOption<P>, optionName = 'iceServers'): IceServers<P> | null {
  if (value === undefined || value === null) return null
  if (typeof value === 'function') {
    const provider = value as IceServersProvider<P>
    const resultName = `${optionName}()`
    return Object.freeze({
      async issue (peer: P): Promise<IceServersResult> {
        return validResult(resultName, await provider(peer))
      }
    })
  }
  if (!Array.isArray(value)) {
    throw invalid(optionName, `expected an array of RTCIceServer / TURN REST entries, or a function, got ${typeOf(value)}`)
  }
  const entries = value.map((entry: unknown, i: number): IceServer | RestEntry => {
    const name = `${optionName}[${i}]`
    if (!isObject(entry)) throw invalid(name, `expected an RTCIceServer or { urls, secret, ttl }, got ${typeOf(entry)}`)
    return 'secret' in entry ? validRest(name, entry) : validStatic(name, entry)
  })
  return Object.freeze({
    async issue (peer: P, now = Date.now()): Promise<IceServersResult> {
      let expiry = Infinity
      const servers = entries.map((entry) => {
        if (!('secret' in entry)) return copy(entry)
        const expires = Math.floor(now / 1000) + entry.ttl
        expiry = Math.min(expiry, expires)
        const username = `${expires}:${peer.id}`
        return { urls: copy(entry).urls, username, credential: turnRestCredential(entry.secret, username) }
      })
      return { servers, expiresAt: expiry === Infinity ? null : expiry * 1000 }
    }
  })
}

/**
 * Milliseconds from `issuedAt` until the servers should be issued again: 70-80 % of the lifetime
 * (`random` picks where, so members that joined together do not refresh together), never less than
 * MIN_REFRESH_DELAY (credentials already expired, or a provider in a hurry) nor more than a timer can wait.
 */
export function refreshDelay (issuedAt: number, expiresAt: number, random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 1)
  const delay = (expiresAt - issuedAt) * (REFRESH_FRACTION + REFRESH_JITTER * r)
  if (!(delay >= MIN_REFRESH_DELAY)) return MIN_REFRESH_DELAY // also NaN
  return Math.min(Math.round(delay), MAX_REFRESH_DELAY)
}
