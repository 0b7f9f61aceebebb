/*
 * Key and channel names of the Redis adapter in cluster mode. Everything of one pool carries the
 * pool's hash tag, so it lives in one slot: `P{T}pool`, `P{T}order`, `P{T}info`, `P{T}node`, `P{T}rs`, `P{T}sus`, its
 * events on the shard channel `P{T}ev` and frames for its members on process N on `P{T}to:N`.
 * Each process's own keys carry `{~node:N}`; the registry of processes is `P{~nodes}`.
 */

/**
 * A pool's hash tag: its name, unless the name holds a brace (which would end or split the tag)
 * or starts with '%': then '%' and the name's UTF-8 in hex. One name, one tag; two names never share one.
 */
export function poolTag (name: string): string {
  return /[{}]/.test(name) || name.startsWith('%') ? `%${Buffer.from(name, 'utf8').toString('hex')}` : name
}

export interface PoolKeys {
  /** The script keys: pool, order, info, node, resume tokens, suspended members (cluster-scripts.ts). */
  keys: [string, string, string, string, string, string]
  /** The pool's event channel. */
  ev: string
  /** Prefix of the channels of frames for its members on one process (append the process id). */
  to: string
}

export function poolKeys (prefix: string, pool: string): PoolKeys {
  const base = `${prefix}{${poolTag(pool)}}`
  return { keys: [`${base}pool`, `${base}order`, `${base}info`, `${base}node`, `${base}rs`, `${base}sus`], ev: `${base}ev`, to: `${base}to:` }
}

export interface NodeKeys {
  /** Liveness: a value with a TTL. */
  alive: string
  /** Hash: member id -> pool, of the members connected to the process (for reaping it). */
  members: string
  /** Kicks for the process. */
  channel: string
}

export function nodeKeys (prefix: string, node: string): NodeKeys {
  const base = `${prefix}{~node:${node}}`
  return { alive: `${base}alive`, members: `${base}members`, channel: `${base}to` }
}

/** The registry of processes (a set) and the data set's epoch. */
export function registryKeys (prefix: string): { nodes: string, epoch: string } {
  return { nodes: `${prefix}{~nodes}`, epoch: `${prefix}{~nodes}epoch` }
}

const CRC16_TABLE = ((): Uint16Array => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

/** The hash slot of a key or shard channel, as Redis Cluster computes it (CRC16 of the hash tag, or the key, mod 16384). */
export function keySlot (key: string): number {
  let bytes = Buffer.from(key, 'utf8')
  const open = bytes.indexOf(0x7b) // '{'
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1) // '}'
    if (close > open + 1) bytes = bytes.subarray(open + 1, close)
  }
  let crc = 0
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]
  return crc & 0x3fff
}
