import type { FastifyBaseLogger } from 'fastify'
import { MIN_REFRESH_DELAY, refreshDelay, type IceServers } from '../ice'
import { iceMessage } from '../protocol'
import type { IceServersResult } from '../types'
import type { Endpoint } from './endpoint'
import type { Clock, TimerHandle } from './clock'
import { channels } from './diagnostics'

/**
 * Each local member's ICE servers (docs/protocol.md, "ICE servers from the server"): issued for
 * `rtc:joined` before the join is applied, then pushed afresh as `rtc:ice` at 70-80 % of their
 * lifetime, one unref'd timer per member, cleared when it leaves its pool (Endpoint.detach).
 * Credentials and secrets are never logged: a failure is logged with the member's id and the error only.
 */
export class IceRefresh {
  readonly #issuer: IceServers<Endpoint>
  readonly #clock: Required<Clock>
  readonly #write: (endpoint: Endpoint, text: string) => void
  readonly #log: FastifyBaseLogger
  readonly #timers = new Map<string, TimerHandle>()
  /** The server's id, for the facts it publishes (lib/core/diagnostics.ts). */
  readonly #node: string

  constructor (issuer: IceServers<Endpoint>, clock: Required<Clock>, write: (endpoint: Endpoint, text: string) => void, log: FastifyBaseLogger, node: string) {
    this.#issuer = issuer
    this.#clock = clock
    this.#write = write
    this.#log = log
    this.#node = node
  }

  /**
   * Issues the joining member's servers and keeps them on its endpoint for `rtc:joined`. When the
   * function form throws (or returns something invalid), the member joins without `ice`: logged at
   * warn, and `start` then retries soon.
   */
  async issueForJoin (endpoint: Endpoint): Promise<void> {
    endpoint.setIce(await this.#issue(endpoint, 'joining without ICE servers'))
  }

  /** The member's join was applied: schedules its first refresh (a retry soon when the join went without). */
  start (endpoint: Endpoint): void {
    this.#schedule(endpoint, endpoint.ice)
  }

  /**
   * Issues fresh servers now and sends them as `rtc:ice` (server code after a secret rotation, or
   * the member's timer). True when the member got them.
   */
  async refresh (endpoint: Endpoint): Promise<boolean> {
    this.#clear(endpoint.id)
    const ice = await this.#issue(endpoint, 'keeping the previous ones, retrying')
    if (endpoint.closed || endpoint.pool === null) return false
    if (ice !== null) {
      endpoint.setIce(ice)
      this.#write(endpoint, iceMessage(ice))
    }
    this.#schedule(endpoint, ice)
    return ice !== null
  }

  /** Every timer (the server is closing). */
  stopAll (): void {
    for (const timer of this.#timers.values()) this.#clock.clearTimeout(timer)
    this.#timers.clear()
  }

  async #issue (endpoint: Endpoint, consequence: string): Promise<IceServersResult | null> {
    try {
      const ice = await this.#issuer.issue(endpoint, this.#clock.now())
      if (channels.ice.hasSubscribers) channels.ice.publish({ node: this.#node, peer: endpoint.id, servers: ice.servers.length, expiresAt: ice.expiresAt })
      return ice
    } catch (err) {
      this.#log.warn({ peer: endpoint.id, err }, `rtc: ICE servers could not be issued, ${consequence}`)
      return null
    }
  }

  /** Next refresh: at 70-80 % of the lifetime; soon after a failure; never for servers that do not expire. */
  #schedule (endpoint: Endpoint, ice: IceServersResult | null): void {
    this.#clear(endpoint.id)
    if (endpoint.closed || endpoint.pool === null) return
    if (ice !== null && ice.expiresAt === null) return
    const delay = ice === null ? MIN_REFRESH_DELAY : refreshDelay(this.#clock.now(), ice.expiresAt as number)
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(endpoint.id)
      this.refresh(endpoint).catch((err: unknown) => this.#log.error({ peer: endpoint.id, err }, 'rtc: ICE refresh failed'))
    }, delay)
    timer.unref?.()
    this.#timers.set(endpoint.id, timer)
    endpoint.onDetach(() => { this.#clear(endpoint.id) }) // every way out of the pool ends the refreshes
  }

  #clear (id: string): void {
    const timer = this.#timers.get(id)
    if (timer === undefined) return
    this.#clock.clearTimeout(timer)
    this.#timers.delete(id)
  }
}
