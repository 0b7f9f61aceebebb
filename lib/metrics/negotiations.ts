import { SYSTEM_CLOCK, type Clock } from '../core/clock'

/** How a tracked offer ended. */
export type NegotiationOutcome = 'answered' | 'timeout' | 'abandoned'

/** Timers and the time in milliseconds (the core's Clock); a test hands in a fake one. */
export type MetricsClock = Clock

/** The global timers and `Date.now()`. */
export const SYSTEM_METRICS_CLOCK: MetricsClock = SYSTEM_CLOCK

/** Offers are checked for a timeout this often at most (ms). */
const SWEEP_INTERVAL = 1000

export interface NegotiationsOptions {
  /** An offer unanswered for this many ms counts as `timeout`. */
  timeout: number
  /** Open offers kept at most: past it the oldest is forgotten (`evicted`). */
  max: number
  clock: MetricsClock
  /** An offer ended, after `seconds`. */
  settled: (outcome: NegotiationOutcome, seconds: number) => void
  /** The oldest open offer was forgotten to make room. */
  evicted: () => void
}

interface Offer {
  readonly from: string
  readonly to: string
  readonly at: number
}

/**
 * Open offers, one per ordered pair (offerer → answerer): an offer opens one, the answerer's answer
 * settles it (`answered`), so does a leave of either member (`abandoned`) or the timeout
 * (`timeout`). A second offer on a pair whose offer is still open (a re-offer after a glare
 * rollback, an ICE restart) keeps the first one's start: the negotiation is still under way.
 * Bounded: the table keeps at most `max` offers, in the order they started, so that the sweep
 * and the eviction both take from the front. Looked up by offerer then answerer (ids whose hash
 * V8 has already computed: no key is built per frame).
 */
export class Negotiations {
  readonly #options: NegotiationsOptions
  /** Open offers in the order they started. */
  readonly #open = new Set<Offer>()
  /** offerer → answerer → offer. */
  readonly #byPair = new Map<string, Map<string, Offer>>()
  /** Both members of each open offer → their offers (for leaves). */
  readonly #byPeer = new Map<string, Set<Offer>>()
  readonly #timer

  constructor (options: NegotiationsOptions) {
    this.#options = options
    this.#timer = options.clock.setInterval(() => this.sweep(), Math.min(SWEEP_INTERVAL, options.timeout))
    this.#timer.unref?.()
  }

  /** Open offers. */
  get size (): number {
    return this.#open.size
  }

  /** `from` sent an offer to `to`. */
  offer (from: string, to: string): void {
    let offers = this.#byPair.get(from)
    if (offers?.has(to) === true) return
    if (this.#open.size >= this.#options.max) {
      this.#remove(this.#open.values().next().value as Offer)
      this.#options.evicted()
      offers = this.#byPair.get(from)
    }
    const offer: Offer = { from, to, at: this.#options.clock.now() }
    this.#open.add(offer)
    if (offers === undefined) this.#byPair.set(from, new Map([[to, offer]]))
    else offers.set(to, offer)
    this.#index(from, offer)
    this.#index(to, offer)
  }

  /** `from` answered `to`'s offer. */
  answer (from: string, to: string): void {
    const offer = this.#byPair.get(to)?.get(from)
    if (offer !== undefined) this.#settle(offer, 'answered')
  }

  /** `peer` left: every offer it made or was waiting to answer is abandoned. */
  left (peer: string): void {
    const offers = this.#byPeer.get(peer)
    if (offers === undefined) return
    for (const offer of Array.from(offers)) this.#settle(offer, 'abandoned')
  }

  /** Settles the offers that waited `timeout` ms or more. */
  sweep (): void {
    const oldest = this.#options.clock.now() - this.#options.timeout
    for (const offer of this.#open) {
      if (offer.at > oldest) break
      this.#settle(offer, 'timeout')
    }
  }

  /** Stops the sweep and forgets every offer. Idempotent. */
  close (): void {
    this.#options.clock.clearInterval(this.#timer)
    this.#open.clear()
    this.#byPair.clear()
    this.#byPeer.clear()
  }

  #settle (offer: Offer, outcome: NegotiationOutcome): void {
    this.#remove(offer)
    this.#options.settled(outcome, Math.max(0, this.#options.clock.now() - offer.at) / 1000)
  }

  #index (peer: string, offer: Offer): void {
    const offers = this.#byPeer.get(peer)
    if (offers === undefined) this.#byPeer.set(peer, new Set([offer]))
    else offers.add(offer)
  }

  #unindex (peer: string, offer: Offer): void {
    const offers = this.#byPeer.get(peer)
    if (offers === undefined) return
    offers.delete(offer)
    if (offers.size === 0) this.#byPeer.delete(peer)
  }

  #remove (offer: Offer): void {
    this.#open.delete(offer)
    const offers = this.#byPair.get(offer.from)
    offers?.delete(offer.to)
    if (offers?.size === 0) this.#byPair.delete(offer.from)
    this.#unindex(offer.from, offer)
    this.#unindex(offer.to, offer)
  }
}
