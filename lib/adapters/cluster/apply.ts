import type { FastifyBaseLogger } from 'fastify'
import type { AdapterHost } from '../adapter'
import type { Channels } from './channels'
import type { PendingJoins } from './joins'
import type { Lifecycle } from './state'
import type { Inbound, PoolEvent } from './transport'

export interface ApplyContext {
  host: AdapterHost
  log: FastifyBaseLogger
  lifecycle: Lifecycle
  channels: Channels
  joins: PendingJoins
  /** A leave of this member started here and is in flight. */
  leaving: (id: string) => boolean
  resync: (reason: string) => void
}

/** Applies one item of the ordered stream to this process: a frame, a kick or a pool event. */
export function applyInbound (ctx: ApplyContext, item: Inbound): void {
  if (item.type === 'deliver') ctx.host.deliver(item.target, item.text)
  else if (item.type === 'kick') ctx.host.kickLocal(item.target, item.reason)
  else applyPoolEvent(ctx, item.pool, item.event)
}

function applyPoolEvent (ctx: ApplyContext, pool: string, e: PoolEvent): void {
  const { host } = ctx
  switch (e.type) {
    case 'join':
      if (!ctx.joins.onEvent(pool, e.member, e.seq)) host.applyJoin(pool, e.member, e.seq)
      break
    case 'leave': {
      const view = host.view(pool)
      const mine = view !== undefined && e.seq > view.seq ? view.members.get(e.id) : undefined
      if (mine?.endpoint !== undefined && !ctx.leaving(e.id) && ctx.lifecycle.state !== 'closing') {
        // Another process removed a member that is alive here: it took this process for dead
        // (its liveness key expired). Keep the member and re-announce it.
        ctx.log.warn({ peer: e.id, pool }, 'rtc: a live member was removed by another process (liveness key expired?): re-announcing')
        ctx.resync('members removed by another process')
      } else {
        host.applyLeave(pool, e.id, e.seq)
        ctx.channels.unsubscribeIfIdle(pool)
      }
      break
    }
    case 'describe':
      host.applyDescribe(pool, e.id, e.description, e.seq)
      break
    case 'close': {
      const view = host.view(pool)
      if (view !== undefined && e.seq > view.seq) host.applyClose(pool)
      ctx.channels.unsubscribeIfIdle(pool)
      break
    }
  }
}
