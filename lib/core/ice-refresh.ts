import type { FastifyBaseLogger } from 'fastify'
import type { IceServers } from '../ice'
import type { Endpoint } from './endpoint'

/**
 * Each local member's ICE servers (docs/protocol.md, "ICE servers from the server"): issued for
 * `rtc:joined` before the join is applied. Credentials and secrets are never logged: a failure is
 * logged with the member's id and the error only.
 */
export class IceRefresh {
  readonly #issuer: IceServers<Endpoint>
  readonly #log: FastifyBaseLogger

  constructor (issuer: IceServers<Endpoint>, log: FastifyBaseLogger) {
    this.#issuer = issuer
    this.#log = log
  }

  /**
   * Issues the joining member's servers and keeps them on its endpoint for `rtc:joined`. When the
   * function form throws (or returns something invalid), the member joins without `ice`: logged at warn.
   */
  async issueForJoin (endpoint: Endpoint): Promise<void> {
    try {
      endpoint.setIce(await this.#issuer.issue(endpoint))
    } catch (err) {
      this.#log.warn({ peer: endpoint.id, err }, 'rtc: ICE servers could not be issued, joining without ICE servers')
      endpoint.setIce(null)
    }
  }
}
