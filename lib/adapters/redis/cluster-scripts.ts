import { SNAPSHOT_LUA, script } from './scripts'

/*
 * The Lua scripts of the Redis adapter in cluster mode (cluster-transport.ts). Each runs in one
 * hash slot: it declares its keys, which all carry the pool's hash tag, so Redis refuses a script
 * that would reach another slot. What spans slots (a process's list of its members, the process
 * registry) is written by separate commands, never on a frame's path.
 *
 * Keys (P is the prefix; T is the pool's tag, its name unless that holds a brace: keys.ts):
 *   KEYS[1] P..'{'..T..'}pool'   hash  name, max, persistent ('1' server code, '0' a public join), seq
 *   KEYS[2] P..'{'..T..'}order'  zset  member id -> seq of its join (join order)
 *   KEYS[3] P..'{'..T..'}info'   hash  member id -> its description as JSON
 *   KEYS[4] P..'{'..T..'}node'   hash  member id -> the process it is connected to
 *   KEYS[5] P..'{'..T..'}rs'     hash  member id -> SHA-256 of its current resume token (resumable members only)
 *   KEYS[6] P..'{'..T..'}sus'    set   ids of its members that are suspended (waiting for a resume)
 * ARGV[1] is the pool's event channel P..'{'..T..'}ev' (SPUBLISH: the shard channel lives in the
 * same slot). Events are those of the standalone scripts (codec.ts).
 *
 * Each pool numbers its own events: seq is max(the shard's clock in µs, last + 1), so it only
 * grows, across failovers and when a pool is removed and made again (its hash is deleted with it).
 */
const COMMON = `${SNAPSHOT_LUA}
local pk, ok, ik, nk, rk, sk, EV = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1]

local function current ()
  return tonumber(redis.call('HGET', pk, 'seq') or '0')
end

local function nextseq ()
  local t = redis.call('TIME')
  local s = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), current() + 1)
  redis.call('HSET', pk, 'seq', string.format('%d', s))
  return s
end

local function event (kind, seq, rest)
  redis.call('SPUBLISH', EV, '{"t":"' .. kind .. '","s":' .. string.format('%d', seq) .. rest .. '}')
end

local function drop (id, only)
  local node = redis.call('HGET', nk, id)
  if not node then return 0 end
  if only and node ~= only then return -1 end
  local seq = nextseq()
  redis.call('HDEL', nk, id)
  redis.call('ZREM', ok, id)
  redis.call('HDEL', ik, id)
  redis.call('HDEL', rk, id)
  redis.call('SREM', sk, id)
  event('l', seq, ',"id":' .. cjson.encode(id))
  if redis.call('ZCARD', ok) == 0 and redis.call('HGET', pk, 'persistent') ~= '1' then
    redis.call('DEL', pk, ok, ik, nk, rk, sk)
  end
  return seq
end

local function snapshot ()
  return snapshotOf(pk, ok, ik, redis.call('HGET', pk, 'name'), function (id) return redis.call('HGET', nk, id) end)
end
`

/** ARGV: EV, pool, id, node, description JSON, create ('1'|'0'), maxMembers → {status, created, seq, snapshot}. */
const JOIN = `${COMMON}
local name, id, node, desc = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local at = redis.call('HGET', nk, id)
if at then
  if at ~= node then return { 'elsewhere' } end
  return { 'present', '0', current(), snapshot() }
end
local created = '0'
if redis.call('EXISTS', pk) == 0 then
  if ARGV[6] ~= '1' then return { 'no-such-pool' } end
  redis.call('HSET', pk, 'name', name, 'max', ARGV[7], 'persistent', '0')
  created = '1'
end
if redis.call('ZCARD', ok) >= tonumber(redis.call('HGET', pk, 'max')) then return { 'pool-full' } end
local seq = nextseq()
redis.call('ZADD', ok, seq, id)
redis.call('HSET', ik, id, desc)
redis.call('HSET', nk, id, node)
event('j', seq, ',"id":' .. cjson.encode(id) .. ',"n":' .. cjson.encode(node) .. ',"d":' .. desc)
return { 'ok', created, seq, snapshot() }
`

/** ARGV: EV, id, node ('' for any) → seq of the leave event, 0 when the member was not there, -1 when it is another process's. */
const LEAVE = `${COMMON}
if ARGV[3] == '' then return drop(ARGV[2], false) end
return drop(ARGV[2], ARGV[3])
`

/** ARGV: EV, id, description JSON → seq, 0 when the member is not in the pool. */
const DESCRIBE = `${COMMON}
local id, desc = ARGV[2], ARGV[3]
if not redis.call('ZSCORE', ok, id) then return 0 end
redis.call('HSET', ik, id, desc)
local seq = nextseq()
event('d', seq, ',"id":' .. cjson.encode(id) .. ',"d":' .. desc)
return seq
`

/** ARGV: EV, id, token hash → 1, 0 when the member is not in the pool (the hash is not kept then). */
const TOKEN = `${COMMON}
if not redis.call('ZSCORE', ok, ARGV[2]) then return 0 end
redis.call('HSET', rk, ARGV[2], ARGV[3])
return 1
`

/** ARGV: EV, id, node, '1' (suspended) or '0' → 1, 0 when the member is not that process's. */
const SUSPENDED = `${COMMON}
if redis.call('HGET', nk, ARGV[2]) ~= ARGV[3] then return 0 end
if ARGV[4] == '1' then redis.call('SADD', sk, ARGV[2]) else redis.call('SREM', sk, ARGV[2]) end
return 1
`

/**
 * ARGV: EV, id, token hash, node, received → {'ok', from, description, seq, snapshot} or
 * {'unknown'}: the member's token is taken (single use) and it moves to \`node\`. The old
 * process's liveness (another slot) is checked before, by the transport.
 */
const CLAIM = `${COMMON}
local id, node = ARGV[2], ARGV[4]
if redis.call('HGET', rk, id) ~= ARGV[3] then return { 'unknown' } end
local from = redis.call('HGET', nk, id)
if not from or from == node then return { 'unknown' } end
redis.call('HDEL', rk, id)
redis.call('SREM', sk, id)
redis.call('HSET', nk, id, node)
local desc = redis.call('HGET', ik, id)
local seq = nextseq()
event('j', seq, ',"id":' .. cjson.encode(id) .. ',"n":' .. cjson.encode(node) .. ',"d":' .. desc ..
  ',"m":{"f":' .. cjson.encode(from) .. ',"r":' .. ARGV[5] .. '}')
return { 'ok', from, desc, seq, snapshot() }
`

/** ARGV: EV, pool, maxMembers → seq, 0 when a pool by that name exists. */
const CREATE = `${COMMON}
if redis.call('EXISTS', pk) == 1 then return 0 end
redis.call('HSET', pk, 'name', ARGV[2], 'max', ARGV[3], 'persistent', '1')
return nextseq()
`

/** ARGV: EV → {seq of the close event, id, node, ...} (the members it removed), {0} when there is no such pool. */
const CLOSE = `${COMMON}
if redis.call('EXISTS', pk) == 0 then return { 0 } end
local seq = nextseq()
local out = { seq }
local all = redis.call('HGETALL', nk)
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = all[i + 1]
end
redis.call('DEL', pk, ok, ik, nk, rk, sk)
event('c', seq, '')
return out
`

/** ARGV: EV → {seq, snapshot or false}. */
const SNAPSHOT = `${COMMON}
return { current(), snapshot() }
`

export const CLUSTER_SCRIPTS = Object.freeze({
  join: script('cluster-join', JOIN),
  leave: script('cluster-leave', LEAVE),
  describe: script('cluster-describe', DESCRIBE),
  token: script('cluster-token', TOKEN),
  claim: script('cluster-claim', CLAIM),
  suspended: script('cluster-suspended', SUSPENDED),
  create: script('cluster-create', CREATE),
  close: script('cluster-close', CLOSE),
  snapshot: script('cluster-snapshot', SNAPSHOT)
})
