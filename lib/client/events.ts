// A typed EventTarget with rtcpool-style `on<type>` handler properties.

type Listener<E extends Event> = ((event: E) => void) | { handleEvent (event: E): void }

/**
 * An EventTarget whose `addEventListener` knows the event type of each name in `M`,
 * and which also calls an `on<type>` property for every type listed in `handlerTypes`
 * (rtcpool's `withon`: `pool.events.onjoin = (event) => { ... }`).
 */
export class TypedEventTarget<M extends { [K in keyof M]: Event }> extends EventTarget {
  constructor (handlerTypes: ReadonlyArray<keyof M & string> = []) {
    super()
    for (const type of handlerTypes) {
      const property = 'on' + type
      ;(this as Record<string, unknown>)[property] = null
      super.addEventListener(type, (event) => {
        const handler = (this as Record<string, unknown>)[property]
        if (typeof handler === 'function') handler.call(this, event)
      })
    }
  }

  override addEventListener<K extends keyof M & string> (type: K, listener: Listener<M[K]> | null, options?: boolean | AddEventListenerOptions): void
  override addEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void
  override addEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener, options)
  }

  override removeEventListener<K extends keyof M & string> (type: K, listener: Listener<M[K]> | null, options?: boolean | EventListenerOptions): void
  override removeEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void
  override removeEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener, options)
  }

  /** Dispatches a CustomEvent of `type` with `detail`. */
  emit<K extends keyof M & string> (type: K, detail: M[K] extends CustomEvent<infer D> ? D : never): boolean {
    return this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
