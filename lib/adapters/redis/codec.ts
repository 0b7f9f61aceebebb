import type { MemberInfo } from '../adapter'
import type { ClaimReply, Description, Handover, HeartbeatReply, JoinReply, NodeMessage, PoolEvent, Snapshot } from '../cluster/transport'

/*
 * The Redis adapter's wire formats, typed. Pool events are written by the Lua scripts (scripts.ts)
 * and only read here; messages between processes are written and read here. The formats on the
 * channels are those of the first version of this adapter, so processes of two versions can share
 * one Redis during a rolling upgrade.
 *
 *   pool events (channel P..'ev:'..pool), JSON:
 *     {"t":"j","s":seq,"id":id,"n":node,"d":description}   join
 *       ... ,"m":{"f":from,"r":received}}                   a suspended member moved to `node` (its resume there)
 *     {"t":"l","s":seq,"id":id}                             leave
 *     {"t":"d","s":seq,"id":id,"d":description}             describe
 *     {"t":"c","s":seq}                                     close
 *   node messages (channel P..'to:'..node), text: a one-letter kind, the target id, a space, the rest
 *     'd'..id..' '..frame    deliver a serialized frame to a local endpoint
 *     'k'..id..' '..reason   kick a local endpoint
 *     'h'..id..' '..JSON     a suspended member's frames, to the process it resumed on: {"s":sent,"f":[frame...]}, or null
 *     'w'..id..' '..frame    a frame for a member that moved, passed on by its old process
 *     'f'..id..' '..node     a fence: process `node` heard of the member's move (passed on by the old process)
 *   a batch of node messages (one tick's, to one process), added after the first version (which
 *   ignores it; a batch of one is sent as the message alone):
 *     'b'..(length..':'..message)...
 *   script replies: decode* below (a snapshot is {name, max, persistent, id, node, description JSON, ...})
 */

/** A description as the scripts store it: JSON, `null` for none. */
export function descriptionJson (description: Description): string {
  return JSON.stringify(description ?? null)
}

/** Reads a pool event; throws on anything else (the caller logs it). */
export function decodePoolEvent (text: string): PoolEvent {
  const e = JSON.parse(text) as Record<string, unknown>
  const seq = e?.s
  if (typeof seq !== 'number' || !Number.isInteger(seq)) throw new Error('pool event without a seq')
  if (e.t === 'c') return { type: 'close', seq }
  const id = e.id
  if (typeof id !== 'string') throw new Error(`pool event "${String(e.t)}" without an id`)
  const description = (e.d ?? null) as Description
  switch (e.t) {
    case 'j': {
      if (typeof e.n !== 'string') throw new Error('join event without a node')
      const member = { id, node: e.n, description }
      const m = e.m as { f?: unknown, r?: unknown } | undefined
      if (m === undefined) return { type: 'join', seq, member }
      if (typeof m?.f !== 'string' || typeof m.r !== 'number') throw new Error('moved join event without its origin')
      return { type: 'join', seq, member, moved: { from: m.f, received: m.r } }
    }
    case 'l':
      return { type: 'leave', seq, id }
    case 'd':
      return { type: 'describe', seq, id, description }
  }
  throw new Error(`unknown pool event "${String(e.t)}"`)
}

function encodeNodeMessage (message: NodeMessage): string {
  switch (message.type) {
    case 'deliver': return `d${message.target} ${message.text}`
    case 'kick': return `k${message.target} ${message.reason}`
    case 'handover': return `h${message.target} ${JSON.stringify(message.held === null ? null : { s: message.held.sent, f: message.held.frames })}`
    case 'forward': return `w${message.target} ${message.text}`
    case 'fence': return `f${message.target} ${message.node}`
  }
}

function decodeHandover (text: string): Handover | null {
  const h = JSON.parse(text) as { s?: unknown, f?: unknown } | null
  if (h === null) return null
  if (typeof h.s !== 'number' || !Array.isArray(h.f) || !h.f.every((f) => typeof f === 'string')) throw new Error('a broken handover')
  return { sent: h.s, frames: h.f as string[] }
}

/** One publish's text: the messages of one tick to one process, in order. */
export function encodeNodeMessages (messages: readonly NodeMessage[]): string {
  if (messages.length === 1) return encodeNodeMessage(messages[0])
  let out = 'b'
  for (const m of messages) {
    const text = encodeNodeMessage(m)
    out += `${text.length}:${text}`
  }
  return out
}

function decodeNodeMessage (text: string, pool: string): NodeMessage | null {
  const space = text.indexOf(' ')
  if (space < 2) return null
  const target = text.slice(1, space)
  const rest = text.slice(space + 1)
  if (text[0] === 'd') return { type: 'deliver', pool, target, text: rest }
  if (text[0] === 'k') return { type: 'kick', target, reason: rest }
  if (text[0] === 'h') return { type: 'handover', pool, target, held: decodeHandover(rest) }
  if (text[0] === 'w') return { type: 'forward', pool, target, text: rest }
  if (text[0] === 'f') return { type: 'fence', pool, target, node: rest }
  return null
}

/**
 * Reads one publish's node messages, in order, skipping what is not one (`pool`: the pool whose
 * channel carried them, '' when the channel is the process's own); throws on a broken batch.
 */
export function decodeNodeMessages (text: string, pool = ''): NodeMessage[] {
  if (text[0] !== 'b') {
    const m = decodeNodeMessage(text, pool)
    return m === null ? [] : [m]
  }
  const out: NodeMessage[] = []
  let at = 1
  while (at < text.length) {
    const colon = text.indexOf(':', at)
    const length = Number(text.slice(at, colon))
    if (colon < 0 || !Number.isInteger(length) || length < 0 || colon + 1 + length > text.length) throw new Error('a broken batch of node messages')
    const m = decodeNodeMessage(text.slice(colon + 1, colon + 1 + length), pool)
    if (m !== null) out.push(m)
    at = colon + 1 + length
  }
  return out
}

/** Reads a snapshot reply (`seq` from the same reply); null when the pool does not exist. */
export function decodeSnapshot (seq: number, raw: unknown): Snapshot | null {
  if (!Array.isArray(raw)) return null
  const [name, max, persistent] = raw as unknown[]
  const members: MemberInfo[] = []
  for (let i = 3; i + 2 < raw.length; i += 3) {
    members.push({ id: String(raw[i]), node: String(raw[i + 1]), description: JSON.parse(String(raw[i + 2])) as Description })
  }
  return { seq, settings: { name: String(name), maxMembers: Number(max), persistent: persistent === '1' }, members }
}

/** Reads the join script's reply: {status, created ('1'|'0'), seq, snapshot}. */
export function decodeJoinReply (raw: unknown): JoinReply {
  const [status, created, seq, snapshot] = raw as [string, string?, number?, unknown?]
  if (status === 'ok' || status === 'present') return { status, created: created === '1', snapshot: decodeSnapshot(Number(seq), snapshot) }
  if (status === 'no-such-pool' || status === 'pool-full') return { status }
  return { status: 'elsewhere' }
}

/** Reads the claim script's reply: {'ok', from, description JSON, seq, snapshot} or {'unknown'}. */
export function decodeClaimReply (raw: unknown, id: string, node: string): ClaimReply {
  const [status, from, desc, seq, snapshot] = raw as [string, string?, string?, number?, unknown?]
  const snap = status === 'ok' ? decodeSnapshot(Number(seq), snapshot) : null
  if (snap === null) return { status: 'unknown' }
  return { status: 'ok', from: String(from), member: { id, node, description: JSON.parse(String(desc)) as Description }, snapshot: snap }
}

/** Reads the heartbeat script's reply: {known (1|0), epoch, seq}. */
export function decodeHeartbeat (raw: unknown): HeartbeatReply {
  const [known, epoch, seq] = raw as [number, string, number]
  return { known: Number(known) === 1, epoch: String(epoch), seq: Number(seq) }
}

/** Reads the reap script's reply: {node, members removed, ...}. */
export function decodeReaped (raw: unknown): Array<{ node: string, members: number }> {
  const out = raw as Array<string | number>
  const removed: Array<{ node: string, members: number }> = []
  for (let i = 0; i + 1 < out.length; i += 2) removed.push({ node: String(out[i]), members: Number(out[i + 1]) })
  return removed
}

/** Reads a member's location (`node:pool`; node ids are UUIDs, so the first ':' splits). */
export function decodeLocation (loc: string | null): { pool: string, node: string } | null {
  if (loc === null) return null
  const sep = loc.indexOf(':')
  return { node: loc.slice(0, sep), pool: loc.slice(sep + 1) }
}
