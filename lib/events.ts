import type { FastifyBaseLogger } from 'fastify'

type Listener<T> = (payload: T) => unknown

/**
 * A typed event emitter whose listeners cannot hurt the emitter: a listener that throws, or
 * returns a promise that rejects, is logged and the others still run.
 */
export class SafeEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Array<Listener<never>>>()

  constructor (private readonly emitterLog: FastifyBaseLogger) {}

  on<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event)
    if (list === undefined) this.listeners.set(event, [listener as Listener<never>])
    else list.push(listener as Listener<never>)
    return this
  }

  off<K extends keyof Events> (event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event)
    const i = list === undefined ? -1 : list.indexOf(listener as Listener<never>)
    if (i >= 0) list!.splice(i, 1)
    return this
  }

  listenerCount (event: keyof Events): number {
    return this.listeners.get(event)?.length ?? 0
  }

  protected emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    const list = this.listeners.get(event)
    if (list === undefined) return
    for (const listener of list.slice()) {
      try {
        const result = (listener as Listener<Events[K]>)(payload)
        if (result instanceof Promise) result.catch((err: unknown) => this.failed(event, err))
      } catch (err) {
        this.failed(event, err)
      }
    }
  }

  private failed (event: keyof Events, err: unknown): void {
    this.emitterLog.error({ err, event: String(event) }, 'fastify-rtc-signal: an event listener failed')
  }
}
