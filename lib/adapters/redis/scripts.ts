import { createHash } from 'node:crypto'

/*
 * The Lua scripts of the Redis adapter. Every change to membership is one script, so it is atomic
 * (no other command runs in between) and its event is published in the same step, numbered from
 * one counter: the order in which processes receive events is the order of `seq`.
 *
 * Keys (P is the prefix, `rtc:` by default; names are the pool names as given):
 *   P..'pool:'..name    hash  max, persistent ('1' created by server code, '0' by a public join)
 *   P..'order:'..name   zset  member id -> seq of its join (join order)
 *   P..'info:'..name    hash  member id -> its description as JSON
 *   P..'rs:'..name      hash  member id -> SHA-256 of its current resume token (resumable members only)
 *   P..'sus:'..name     set   ids of its members that are suspended (waiting for a resume)
 *   P..'loc'            hash  member id -> node..':'..pool (node ids are UUIDs, so the first ':' splits)
 *   P..'node:'..node    set   ids of the members connected to that process (for reaping it)
 *   P..'nodes'          set   processes that have announced themselves
 *   P..'alive:'..node   string with a TTL, refreshed by the process; gone means the process is dead
 *   P..'pools'          set   pool names (for listing)
 *   P..'seq'            the event counter
 *   P..'epoch'          a random value set when missing: a different value means Redis lost its data
 * Channels (formats: codec.ts):
 *   P..'ev:'..name      the pool's events, JSON: {t:'j',s,id,n,d} join, {t:'l',s,id} leave,
 *                       {t:'d',s,id,d} describe, {t:'c',s} close
 *   P..'to:'..node      frames for one process: 'd'..id..' '..frame (deliver), 'k'..id..' '..reason (kick)
 *
 * The keys are built inside the scripts, so this needs one Redis server (or a primary with
 * replicas / Sentinel), not Redis Cluster.
 */

/**
 * Lua shared by the standalone and the cluster scripts (cluster-scripts.ts): a pool's snapshot
 * {name, max, persistent, id, node, description JSON, ...} in join order, or false when its hash is
 * gone; `nodeOf(id)` finds a member's process.
 */
export const SNAPSHOT_LUA = `
local function snapshotOf (pk, ok, ik, name, nodeOf)
  local settings = redis.call('HMGET', pk, 'max', 'persistent')
  if not settings[1] then return false end
  local out = { name, settings[1], settings[2] }
  for _, id in ipairs(redis.call('ZRANGE', ok, 0, -1)) do
    local node = nodeOf(id)
    local desc = redis.call('HGET', ik, id)
    if node and desc then
      out[#out + 1] = id
      out[#out + 1] = node
      out[#out + 1] = desc
    end
  end
  return out
end
`

const COMMON = `${SNAPSHOT_LUA}
local P = ARGV[1]

local function split (loc)
  local sep = string.find(loc, ':', 1, true)
  return string.sub(loc, 1, sep - 1), string.sub(loc, sep + 1)
end

local function drop (id, pool, only)
  local loc = redis.call('HGET', P .. 'loc', id)
  if not loc then return 0 end
  local node, name = split(loc)
  if pool and name ~= pool then return 0 end
  if only and node ~= only then return -1 end
  redis.call('HDEL', P .. 'loc', id)
  redis.call('SREM', P .. 'node:' .. node, id)
  redis.call('ZREM', P .. 'order:' .. name, id)
  redis.call('HDEL', P .. 'info:' .. name, id)
  redis.call('HDEL', P .. 'rs:' .. name, id)
  redis.call('SREM', P .. 'sus:' .. name, id)
  local seq = redis.call('INCR', P .. 'seq')
  redis.call('PUBLISH', P .. 'ev:' .. name, '{"t":"l","s":' .. seq .. ',"id":' .. cjson.encode(id) .. '}')
  if redis.call('ZCARD', P .. 'order:' .. name) == 0 and redis.call('HGET', P .. 'pool:' .. name, 'persistent') ~= '1' then
    redis.call('DEL', P .. 'pool:' .. name, P .. 'order:' .. name, P .. 'info:' .. name, P .. 'rs:' .. name, P .. 'sus:' .. name)
    redis.call('SREM', P .. 'pools', name)
  end
  return seq
end

local function snapshot (name)
  return snapshotOf(P .. 'pool:' .. name, P .. 'order:' .. name, P .. 'info:' .. name, name, function (id)
    local loc = redis.call('HGET', P .. 'loc', id)
    return loc and split(loc)
  end)
end
`

/** ARGV: P, pool, id, node, description JSON, create ('1'|'0'), maxMembers → {status, created, seq, snapshot}. */
const JOIN = `${COMMON}
local name, id, node, desc = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local pk = P .. 'pool:' .. name
local loc = redis.call('HGET', P .. 'loc', id)
if loc then
  if loc ~= node .. ':' .. name then return { 'elsewhere' } end
  return { 'present', '0', tonumber(redis.call('GET', P .. 'seq') or '0'), snapshot(name) }
end
local created = '0'
if redis.call('EXISTS', pk) == 0 then
  if ARGV[6] ~= '1' then return { 'no-such-pool' } end
  redis.call('HSET', pk, 'max', ARGV[7], 'persistent', '0')
  redis.call('SADD', P .. 'pools', name)
  created = '1'
end
if redis.call('ZCARD', P .. 'order:' .. name) >= tonumber(redis.call('HGET', pk, 'max')) then return { 'pool-full' } end
local seq = redis.call('INCR', P .. 'seq')
redis.call('ZADD', P .. 'order:' .. name, seq, id)
redis.call('HSET', P .. 'info:' .. name, id, desc)
redis.call('HSET', P .. 'loc', id, node .. ':' .. name)
redis.call('SADD', P .. 'node:' .. node, id)
redis.call('SADD', P .. 'nodes', node)
redis.call('PUBLISH', P .. 'ev:' .. name,
  '{"t":"j","s":' .. seq .. ',"id":' .. cjson.encode(id) .. ',"n":' .. cjson.encode(node) .. ',"d":' .. desc .. '}')
return { 'ok', created, seq, snapshot(name) }
`

/**
 * ARGV: P, pool ('' for whichever it is in), id, node → seq of the leave event, 0 when the member
 * was not there, -1 when it is another process's now (it moved: a resume there).
 */
const LEAVE = `${COMMON}
return drop(ARGV[3], ARGV[2] ~= '' and ARGV[2], ARGV[4])
`

/** ARGV: P, pool, id, description JSON → seq, 0 when the member is not in that pool. */
const DESCRIBE = `${COMMON}
local name, id, desc = ARGV[2], ARGV[3], ARGV[4]
if not redis.call('ZSCORE', P .. 'order:' .. name, id) then return 0 end
redis.call('HSET', P .. 'info:' .. name, id, desc)
local seq = redis.call('INCR', P .. 'seq')
redis.call('PUBLISH', P .. 'ev:' .. name, '{"t":"d","s":' .. seq .. ',"id":' .. cjson.encode(id) .. ',"d":' .. desc .. '}')
return seq
`

/** ARGV: P, pool, id, token hash → 1, 0 when the member is not in that pool (the hash is not kept then). */
const TOKEN = `${COMMON}
local name, id = ARGV[2], ARGV[3]
if not redis.call('ZSCORE', P .. 'order:' .. name, id) then return 0 end
redis.call('HSET', P .. 'rs:' .. name, id, ARGV[4])
return 1
`

/** ARGV: P, pool, id, node, '1' (suspended) or '0' → 1, 0 when the member is not that process's in that pool. */
const SUSPENDED = `${COMMON}
local name, id = ARGV[2], ARGV[3]
if redis.call('HGET', P .. 'loc', id) ~= ARGV[4] .. ':' .. name then return 0 end
if ARGV[5] == '1' then redis.call('SADD', P .. 'sus:' .. name, id) else redis.call('SREM', P .. 'sus:' .. name, id) end
return 1
`

/**
 * ARGV: P, pool, id, token hash, node, received → {'ok', from, description, seq, snapshot} or
 * {'unknown'}: the member's token is taken (single use) and it moves to \`node\`, when its process is alive.
 */
const CLAIM = `${COMMON}
local name, id, node = ARGV[2], ARGV[3], ARGV[5]
local rk = P .. 'rs:' .. name
if redis.call('HGET', rk, id) ~= ARGV[4] then return { 'unknown' } end
local loc = redis.call('HGET', P .. 'loc', id)
if not loc then return { 'unknown' } end
local from, pool = split(loc)
if pool ~= name or from == node or redis.call('EXISTS', P .. 'alive:' .. from) == 0 then return { 'unknown' } end
redis.call('HDEL', rk, id)
redis.call('SREM', P .. 'sus:' .. name, id)
redis.call('HSET', P .. 'loc', id, node .. ':' .. name)
redis.call('SREM', P .. 'node:' .. from, id)
redis.call('SADD', P .. 'node:' .. node, id)
redis.call('SADD', P .. 'nodes', node)
local desc = redis.call('HGET', P .. 'info:' .. name, id)
local seq = redis.call('INCR', P .. 'seq')
redis.call('PUBLISH', P .. 'ev:' .. name, '{"t":"j","s":' .. seq .. ',"id":' .. cjson.encode(id) .. ',"n":' .. cjson.encode(node) ..
  ',"d":' .. desc .. ',"m":{"f":' .. cjson.encode(from) .. ',"r":' .. ARGV[6] .. '}}')
return { 'ok', from, desc, seq, snapshot(name) }
`

/** ARGV: P, pool, maxMembers → seq, 0 when a pool by that name exists. */
const CREATE = `${COMMON}
local pk = P .. 'pool:' .. ARGV[2]
if redis.call('EXISTS', pk) == 1 then return 0 end
redis.call('HSET', pk, 'max', ARGV[3], 'persistent', '1')
redis.call('SADD', P .. 'pools', ARGV[2])
return redis.call('INCR', P .. 'seq')
`

/** ARGV: P, pool → seq of the close event, 0 when there is no such pool. */
const CLOSE = `${COMMON}
local name = ARGV[2]
if redis.call('EXISTS', P .. 'pool:' .. name) == 0 then return 0 end
for _, id in ipairs(redis.call('ZRANGE', P .. 'order:' .. name, 0, -1)) do
  local loc = redis.call('HGET', P .. 'loc', id)
  if loc then
    local node = split(loc)
    redis.call('HDEL', P .. 'loc', id)
    redis.call('SREM', P .. 'node:' .. node, id)
  end
end
redis.call('DEL', P .. 'pool:' .. name, P .. 'order:' .. name, P .. 'info:' .. name, P .. 'rs:' .. name, P .. 'sus:' .. name)
redis.call('SREM', P .. 'pools', name)
local seq = redis.call('INCR', P .. 'seq')
redis.call('PUBLISH', P .. 'ev:' .. name, '{"t":"c","s":' .. seq .. '}')
return seq
`

/** ARGV: P, pool → {seq, snapshot or false}. */
const SNAPSHOT = `${COMMON}
return { tonumber(redis.call('GET', P .. 'seq') or '0'), snapshot(ARGV[2]) }
`

/** ARGV: P → {seq, snapshot...} of every pool. */
const LIST = `${COMMON}
local out = { tonumber(redis.call('GET', P .. 'seq') or '0') }
for _, name in ipairs(redis.call('SMEMBERS', P .. 'pools')) do
  local snap = snapshot(name)
  if snap then out[#out + 1] = snap end
end
return out
`

/**
 * ARGV: P, node, ttl (ms), epoch candidate → {known, epoch, seq}. Refreshes the liveness key; `known`
 * 0 means this process was not in the nodes set (first beat, reaped as dead, or Redis lost its data).
 * The epoch is set only when there is none, so a new value (each call brings a fresh candidate)
 * means the data set is new; `seq` is the event counter, which only a data loss sets back.
 */
const HEARTBEAT = `${COMMON}
local node = ARGV[2]
local known = redis.call('SISMEMBER', P .. 'nodes', node)
redis.call('SET', P .. 'alive:' .. node, '1', 'PX', ARGV[3])
redis.call('SADD', P .. 'nodes', node)
redis.call('SET', P .. 'epoch', ARGV[4], 'NX')
return { known, redis.call('GET', P .. 'epoch'), tonumber(redis.call('GET', P .. 'seq') or '0') }
`

/**
 * ARGV: P[, node] → {node, members removed, ...}. Without a node: every process whose liveness key
 * expired. With one: that process, now (a clean shutdown). Each member is removed once, with its
 * leave event, so its peers get exactly one rtc:close however many survivors reap at once.
 */
const REAP = `${COMMON}
local out = {}
local nodes = ARGV[2] and { ARGV[2] } or redis.call('SMEMBERS', P .. 'nodes')
for _, node in ipairs(nodes) do
  if ARGV[2] or redis.call('EXISTS', P .. 'alive:' .. node) == 0 then
    local n = 0
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'node:' .. node)) do
      if drop(id, false, false) > 0 then n = n + 1 end
    end
    redis.call('DEL', P .. 'node:' .. node)
    redis.call('SREM', P .. 'nodes', node)
    if ARGV[2] then redis.call('DEL', P .. 'alive:' .. node) end
    out[#out + 1] = node
    out[#out + 1] = n
  end
end
return out
`

export interface Script {
  readonly name: string
  readonly text: string
  readonly sha: string
}

export function script (name: string, text: string): Script {
  return Object.freeze({ name, text, sha: createHash('sha1').update(text).digest('hex') })
}

export const SCRIPTS = Object.freeze({
  join: script('join', JOIN),
  leave: script('leave', LEAVE),
  describe: script('describe', DESCRIBE),
  token: script('token', TOKEN),
  claim: script('claim', CLAIM),
  suspended: script('suspended', SUSPENDED),
  create: script('create', CREATE),
  close: script('close', CLOSE),
  snapshot: script('snapshot', SNAPSHOT),
  list: script('list', LIST),
  heartbeat: script('heartbeat', HEARTBEAT),
  reap: script('reap', REAP)
})

/** What running a script needs of a client (a Redis connection or a Cluster). */
export interface ScriptClient {
  evalsha (sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
}

/** Runs a script by its SHA, loading it when the server does not have it (first use, a restart, a failover). */
export async function runScript (client: ScriptClient, s: Script, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
    return await client.eval(s.text, keys.length, ...keys, ...args)
  }
}
