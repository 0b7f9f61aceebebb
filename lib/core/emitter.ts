import type { FastifyBaseLogger } from 'fastify'
import type { FrameData } from '../protocol'
import type { LeaveReason, PoolClosedReason } from '../types'
import type { Endpoint } from './endpoint'

type Listener<T> = (payload: T) => unknown

/**
 * A typed event emitter whose listeners cannot hurt the emitter: a listener that throws, or
 * returns a promise that rejects, is logged and the others still run.
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Array<Listener<never>>>()
  readonly #log: FastifyBaseLogger

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  on<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners.get(event)
    if (list === undefined) this.#listeners.set(event, [listener as Listener<never>])
    else list.push(listener as Listener<never>)
    return this
  }

  off<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners.get(event)
    const i = list === undefined ? -1 : list.indexOf(listener as Listener<never>)
    if (i >= 0) list!.splice(i, 1)
    return this
  }

  /** The payload of the next `event`. */
  once<K extends keyof Events> (event: K): Promise<Events[K]> {
    return new Promise((resolve) => {
      const listener = (payload: Events[K]): void => {
        this.off(event, listener)
        resolve(payload)
      }
      this.on(event, listener)
    })
  }

  listenerCount (event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0
  }

  emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    const list = this.#listeners.get(event)
    if (list === undefined) return
    for (const listener of list.slice()) {
      try {
        const result = (listener as Listener<Events[K]>)(payload)
        if (result instanceof Promise) result.catch((err: unknown) => this.#failed(event, err))
      } catch (err) {
        this.#failed(event, err)
      }
    }
  }

  #failed (event: keyof Events, err: unknown): void {
    this.#log.error({ err, event: String(event) }, 'fastify-rtc-signal: an event listener failed')
  }
}

/** Typed events of `fastify.rtcPools`. Listeners run on the process the endpoint is connected to. */
export interface PoolManagerEvents {
  /** A connection of this process joined a pool. */
  join: { endpoint: Endpoint, pool: string }
  /** A connection of this process left its pool (a suspended member only when it is gone for good). */
  leave: { endpoint: Endpoint, pool: string, reason: LeaveReason }
  /** A resumable member of this process lost its socket and waits for its client to resume (it is still a member). */
  suspend: { endpoint: Endpoint, pool: string, id: string }
  /** A suspended member resumed on a new socket of this process (it may have been suspended on another one: it moved here). */
  resume: { endpoint: Endpoint, pool: string, id: string }
  /**
   * A suspended member of this process resumed on another process (`node`) and moved there: it is
   * no longer this process's, and still a member (not a leave; that process emits `resume`).
   */
  moved: { endpoint: Endpoint, pool: string, id: string, node: string }
  /** An application event (a frame whose type does not start with `rtc:`) arrived. */
  event: { endpoint: Endpoint, type: string, data: FrameData }
  /** A pool was created by server code or by a public join on this process. */
  'pool-created': { pool: string }
  /** A pool was closed by server code, or a public pool lost its last member. */
  'pool-closed': { pool: string, reason: PoolClosedReason }
}

/** The emitter behind `fastify.rtcPools.on()`, shared by the parts of the core that emit. */
export type ManagerEmitter = Emitter<PoolManagerEvents>
