import type { FastifyBaseLogger } from 'fastify'
import type { JoinHook, JoinHookResult } from '../options'
import { clip, isPoolName, type FrameData } from '../protocol'
import type { LeaveReason, MemberInfo } from '../types'
import { unrefTimeout, type TimerHandle } from './clock'
import { checkDescription } from './description'
import { channels, type HookFact } from './diagnostics'
import type { Endpoint } from './endpoint'
import type { AllowsRule } from './pool-view'
import type { Refuse } from './relay'
import type { Resumable } from './resume'
import type { SessionContext } from './session'

export const JOIN = 'rtc:join'
/** How many names of pools that do not exist a private server remembers, to log each once. */
const MAX_UNKNOWN_POOLS_LOGGED = 1000
/** What a join hook that did not answer within joinHookTimeout is taken to have answered. */
const HOOK_TIMED_OUT = Symbol('join hook timed out')

/** What admission needs from the session it admits. */
export interface AdmissionHost {
  readonly endpoint: Endpoint
  /** Answers the frame with `rtc:error`. */
  readonly refuse: Refuse
  /** The join was applied (rtc:joined written): the session stops its join timer. */
  admitted (): void
  /** Leaves the pool (a socket that closed while the adapter admitted it). */
  leave (reason: LeaveReason): Promise<void>
  /** A new resume state for a join with `resume: true`; null when the server does not resume. */
  resumable (): Resumable | null
}

/**
 * One connection's join admission: the frame's checks, the join hook (with its timeout), the
 * pool's `allows` rule, then the adapter; it owns the state of a join in progress. A resume asks
 * the join hook again through `askHook`.
 */
export class Admission {
  readonly #ctx: SessionContext
  readonly #host: AdmissionHost
  /** A join is in progress (hook, rule or adapter pending). */
  #joining = false
  /** When the join in progress started (performance.now()), for its fact. */
  #started = 0

  constructor (ctx: SessionContext, host: AdmissionHost) {
    this.#ctx = ctx
    this.#host = host
  }

  /** A join (or a resume) is in progress on this connection. */
  get busy (): boolean {
    return this.#joining
  }

  get #log (): FastifyBaseLogger {
    return this.#host.endpoint.request.log
  }

  /** Handles `rtc:join`: refusals are answered here; resolves when the join was applied or refused. */
  async join (data: FrameData): Promise<void> {
    const { endpoint } = this.#host
    const { maxPoolNameLength } = this.#ctx.options
    if (this.#joining) {
      this.#host.refuse('already-joined', 'A join is in progress on this connection: wait for its answer', { type: JOIN })
      return
    }
    if (endpoint.pool !== null) {
      this.#host.refuse('already-joined', `This connection is already in pool "${clip(endpoint.pool)}"`, { type: JOIN, pool: endpoint.pool })
      return
    }
    const requested = data.pool === undefined && endpoint.boundPool !== null ? endpoint.boundPool : data.pool
    if (!isPoolName(requested, maxPoolNameLength)) {
      this.#host.refuse('missing-pool', `rtc:join needs "pool": a non-empty string of at most ${maxPoolNameLength} characters, in well-formed Unicode`, { type: JOIN })
      return
    }
    if (endpoint.boundPool !== null && requested !== endpoint.boundPool) {
      this.#host.refuse('join-denied', `This connection is bound to pool "${clip(endpoint.boundPool)}" by its URL`, { type: JOIN, pool: requested })
      return
    }
    endpoint.setResumable(data.resume === true ? this.#host.resumable() : null)
    await this.run(() => this.#admit(requested))
  }

  /** Runs `step` as the connection's join in progress (a second join meanwhile is refused). */
  async run (step: () => Promise<void>): Promise<void> {
    this.#joining = true
    this.#started = performance.now()
    try {
      await step()
    } finally {
      this.#joining = false
    }
  }

  async #admit (requested: string): Promise<void> {
    const { endpoint } = this.#host
    const { adapter, cluster, events, options, ice } = this.#ctx
    // The hook and the rule may take a while: a socket that closes meanwhile stops the join there.
    const pool = options.joinHook === null ? requested : await this.askHook(requested, JOIN)
    if (pool === null || endpoint.closed) return
    const allows = cluster.rule(pool)
    if (allows !== undefined && (!(await this.#askRule(allows, pool)) || endpoint.closed)) return
    // Issued after the hook (which may set the description a provider reads), kept on the endpoint
    // for the rtc:joined that applyJoin writes, here or after a round trip through the adapter.
    if (ice !== null) {
      await ice.issueForJoin(endpoint)
      if (endpoint.closed) return
    }
    const member: MemberInfo = { id: endpoint.id, description: endpoint.description, node: cluster.node }
    const outcome = await adapter.join(pool, member, { create: !options.privatePools, maxMembers: options.maxMembers })
    if (!outcome.ok) {
      if (outcome.reason === 'no-such-pool') this.#hintUnknownPool(pool)
      this.#host.refuse(outcome.reason, 'message' in outcome ? outcome.message : undefined, { type: JOIN, pool })
      return
    }
    if (outcome.created === true) events.emit('pool-created', { pool })
    this.#host.admitted()
    if (endpoint.closed) {
      // The socket closed while the adapter was admitting it: undo, so its peers see it leave. A socket
      // that was already gone when the join was applied is a member without endpoint: take it out by id.
      await (endpoint.pool === null ? adapter.leave(pool, endpoint.id) : this.#host.leave('closed'))
      return
    }
    ice?.start(endpoint)
    this.#log.info({ peer: endpoint.id, pool }, 'rtc: joined')
    if (channels.join.hasSubscribers) channels.join.publish({ node: cluster.node, peer: endpoint.id, pool, result: 'ok', seconds: (performance.now() - this.#started) / 1000 })
    events.emit('join', { endpoint, pool })
  }

  /**
   * The pool to join as the join hook maps it, or null when the hook refused (answered here with
   * `join-denied`, in the context of the frame `type`). For a resume, `member` is the suspended
   * member's endpoint, which the hook is shown; only a refusal counts then (no mapping, no description).
   * `answer` sends the refusal (the connection's own `refuse` unless the caller holds it back).
   */
  async askHook (requested: string, type: string, member?: Endpoint, answer: Refuse = this.#host.refuse): Promise<string | null> {
    const hook = this.#ctx.options.joinHook
    if (hook === null) return requested
    const endpoint = member ?? this.#host.endpoint
    const refuse = (message?: string): null => {
      answer('join-denied', message, { type, pool: requested })
      return null
    }
    let result
    const started = performance.now()
    try {
      result = await this.#callHook(hook, requested, endpoint)
      this.#hookAnswered('join-hook', requested, result === HOOK_TIMED_OUT ? 'timeout' : result === false ? 'denied' : 'allowed', started)
    } catch (err) {
      this.#hookAnswered('join-hook', requested, 'error', started)
      // A refusal, not a fault: its message, which the client gets too, and no stack.
      const message = err instanceof Error && err.message !== '' ? err.message : undefined
      this.#log.info({ peer: endpoint.id, pool: requested, message }, 'rtc: join refused by the join hook')
      return refuse(message)
    }
    if (result === HOOK_TIMED_OUT) {
      const ms = this.#ctx.options.joinHookTimeout
      this.#log.warn({ peer: endpoint.id, pool: requested, joinHookTimeout: ms }, 'rtc: the join hook did not answer in time: join refused')
      return refuse(`the join hook did not answer within ${ms} ms`)
    }
    if (result === false) return refuse()
    if (typeof result !== 'object' || result === null || member !== undefined) return requested
    let pool = requested
    if (result.pool !== undefined) {
      if (!isPoolName(result.pool, this.#ctx.options.maxPoolNameLength)) {
        this.#log.error({ peer: endpoint.id, pool: requested }, 'rtc: the join hook mapped the pool to an invalid name')
        return refuse()
      }
      pool = result.pool
    }
    if ('description' in result) {
      try {
        endpoint.description = checkDescription(result.description, this.#ctx.options.maxDescriptionBytes)
      } catch (err) {
        this.#log.error({ peer: endpoint.id, pool: requested, err }, 'rtc: the join hook set a description that is not JSON or is over maxDescriptionBytes')
        return refuse()
      }
    }
    return pool
  }

  /** A private server was asked for a pool nobody created: say once per name how to fix it (a forgotten createPool is the usual cause). */
  #hintUnknownPool (pool: string): void {
    const { log, options, unknownPools } = this.#ctx
    if (!options.privatePools || unknownPools.has(pool) || unknownPools.size > MAX_UNKNOWN_POOLS_LOGGED) return
    if (unknownPools.size === MAX_UNKNOWN_POOLS_LOGGED) {
      unknownPools.add('') // a pool name is never empty: marks the end of logging
      log.info(`rtc: ${MAX_UNKNOWN_POOLS_LOGGED} pools that do not exist were asked for: no more are logged`)
      return
    }
    unknownPools.add(pool)
    log.info({ pool }, 'rtc: a join asked for a pool that does not exist; this server is private (privatePools: true), so only pools made with rtcPools.createPool can be joined: call rtcPools.createPool, or set privatePools: false')
  }

  /** The hook's answer, or HOOK_TIMED_OUT when it has none within joinHookTimeout (a late one is then ignored). */
  async #callHook (hook: JoinHook, requested: string, endpoint: Endpoint): Promise<JoinHookResult | typeof HOOK_TIMED_OUT> {
    const { clock, options } = this.#ctx
    let timer: TimerHandle | undefined
    const timeout = new Promise<typeof HOOK_TIMED_OUT>((resolve) => {
      timer = unrefTimeout(clock, () => resolve(HOOK_TIMED_OUT), options.joinHookTimeout)
    })
    try {
      // The request is this connection's (a resume's hook sees the new socket's request).
      return await Promise.race([hook(this.#host.endpoint.request, { pool: requested, endpoint }), timeout])
    } finally {
      clock.clearTimeout(timer as TimerHandle)
    }
  }

  /** True when the pool's rule allows this endpoint; a refusal is answered here. */
  async #askRule (allows: AllowsRule, pool: string): Promise<boolean> {
    let allowed = false
    const started = performance.now()
    try {
      allowed = await allows(this.#host.endpoint)
      this.#hookAnswered('allows', pool, allowed === true ? 'allowed' : 'denied', started)
    } catch (err) {
      this.#hookAnswered('allows', pool, 'error', started)
      this.#log.error({ peer: this.#host.endpoint.id, pool, err }, 'rtc: the pool\'s allows() rule threw')
    }
    if (allowed === true) return true
    this.#host.refuse('join-denied', undefined, { type: JOIN, pool })
    return false
  }

  #hookAnswered (hook: HookFact['hook'], pool: string, result: HookFact['result'], started: number): void {
    if (!channels.hook.hasSubscribers) return
    channels.hook.publish({ node: this.#ctx.cluster.node, peer: this.#host.endpoint.id, pool, hook, result, seconds: (performance.now() - started) / 1000 })
  }
}
