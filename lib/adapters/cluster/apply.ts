import type { FastifyBaseLogger } from 'fastify'
import type { AdapterHost, MemberInfo } from '../adapter'
import type { Channels } from './channels'
import type { Handovers } from './handovers'
import type { PendingJoins } from './joins'
import type { Lifecycle } from './state'
import type { Inbound, NodeMessage, PoolEvent } from './transport'

export interface ApplyContext {
  host: AdapterHost
  log: FastifyBaseLogger
  lifecycle: Lifecycle
  channels: Channels
  joins: PendingJoins
  /** A leave of this member started here and is in flight. */
  leaving: (id: string) => boolean
  resync: (reason: string) => void
  handovers: Handovers
  /** Sends a message to another process (through the relay's batches, in order with frames). */
  send: (node: string, message: NodeMessage) => void
}

/** Applies one item of the ordered stream to this process: a frame, a kick or a pool event. */
export function applyInbound (ctx: ApplyContext, item: Inbound): void {
  switch (item.type) {
    case 'deliver':
    case 'forward': {
      // Addressed here by a sender that had not yet heard that its target moved away: passed on.
      const moved = ctx.handovers.movedTo(item.target)
      if (moved !== undefined) ctx.send(moved, { type: 'forward', pool: item.pool, target: item.target, text: item.text })
      else if (item.type === 'deliver') ctx.host.deliver(item.target, item.text)
      else ctx.host.deliverForwarded(item.target, item.text)
      break
    }
    case 'fence': {
      const moved = ctx.handovers.movedTo(item.target)
      if (moved !== undefined) ctx.send(moved, item)
      else ctx.handovers.fenced(item.target, item.node)
      break
    }
    case 'kick':
      ctx.host.kickLocal(item.target, item.reason)
      break
    case 'handover':
      if (!ctx.handovers.arrived(item.target, item.held)) ctx.log.debug({ peer: item.target }, 'rtc: a handover came after its resume was given up')
      break
    default:
      applyPoolEvent(ctx, item.pool, item.event)
  }
}

/**
 * A suspended member moved (its resume on another process): the process that claimed it applies
 * it as its own claim; its old process hands its frames over (in the stream's order: every frame
 * that reached it before the move is in them) and passes on what still comes; every other process
 * sends its fence through the old one, then routes to the new one (lib/adapters/cluster/handovers.ts).
 */
function applyMoved (ctx: ApplyContext, pool: string, member: MemberInfo, from: string, received: number, seq: number): void {
  const { host } = ctx
  if (member.node === host.node) ctx.handovers.back(member.id) // it moved away from here before: frames for it are its own again
  // Frames this process sent for the member until now went to its old process: a fence after them.
  if (from !== host.node) ctx.send(from, { type: 'fence', pool, target: member.id, node: host.node })
  if (ctx.joins.onEvent(pool, member, seq)) return
  if (from === host.node && host.view(pool)?.members.get(member.id)?.node === from) {
    ctx.send(member.node, { type: 'handover', pool, target: member.id, held: host.handOver(member.id, received, member.node) })
    // Frames and fences still addressed here come on the pool's channels (with Redis Cluster): kept a while.
    const ch = ctx.channels.retain(pool)
    ctx.handovers.left(member.id, member.node, () => { ctx.channels.release(pool, ch) })
  }
  host.applyMove(pool, member, seq)
  ctx.channels.unsubscribeIfIdle(pool)
}

function applyPoolEvent (ctx: ApplyContext, pool: string, e: PoolEvent): void {
  const { host } = ctx
  switch (e.type) {
    case 'join':
      if (e.moved !== undefined) applyMoved(ctx, pool, e.member, e.moved.from, e.moved.received, e.seq)
      else if (!ctx.joins.onEvent(pool, e.member, e.seq)) host.applyJoin(pool, e.member, e.seq)
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
