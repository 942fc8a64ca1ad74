/**
 * The Lua scripts of the Redis store. Each runs atomically inside Redis on
 * the keys of one user (one hash tag, so also on Redis Cluster), and mirrors
 * the memory store line for line: `decide` in domain/policy.ts is the
 * admission rule, `counts`/`isIdle`/`isTooOld` in domain/session.ts the rules
 * of time. The contract suite (test/store/contract.ts) holds both stores to
 * the same behaviour.
 *
 * Every script is idempotent: ioredis re-sends a command whose answer was lost
 * when the connection dropped, so a script may run twice. Admitting a session
 * that is already live ends nothing more; ending an ended session changes
 * nothing; a rotation already recorded is recorded again to the same effect.
 *
 * KEYS (all scripts): 1 live, 2 ended, 3 endedz, 4 alias, 5 aliasz (see keys.ts).
 * ARGV (all scripts): 1 now, 2 maxAge, 3 idleTimeout, 4 key ttl (ms), then the script's own.
 */

const PRELUDE = `
local L, E, EZ, A, AZ = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local nowS = ARGV[1]
local now = tonumber(ARGV[1])
local maxAge = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])

local function pair (v)
  local a, b = string.match(v, '^([^,]*),(.*)$')
  return a, b
end
-- A live record: "createdAt,lastUsedAt" or "createdAt,lastUsedAt,group".
local function rec (v)
  local c, u, g = string.match(v, '^([^,]*),([^,]*),?(.*)$')
  return c, u, g
end
local function val (c, u, g)
  if g and g ~= '' then return c .. ',' .. u .. ',' .. g end
  return c .. ',' .. u
end
local function tooOld (createdAt) return now - tonumber(createdAt) >= maxAge end
local function isIdle (lastUsed) return idle > 0 and now - tonumber(lastUsed) >= idle end
local function counts (c, u) return not tooOld(c) and not isIdle(u) end

-- The key of the session an id belongs to: itself, or the session it is a later cookie of.
local function resolve (id)
  local v = redis.call('HGET', A, id)
  if not v then return id end
  local key, at = pair(v)
  if now - tonumber(at) >= maxAge then
    redis.call('HDEL', A, id)
    redis.call('ZREM', AZ, id)
    return id
  end
  return key
end

local function endedReason (key)
  local v = redis.call('HGET', E, key)
  if not v then return nil end
  local at, reason = pair(v)
  if now - tonumber(at) < maxAge then return reason end
  redis.call('HDEL', E, key)
  redis.call('ZREM', EZ, key)
  return nil
end

local function endSession (key, reason)
  redis.call('HDEL', L, key)
  redis.call('HSET', E, key, nowS .. ',' .. reason)
  redis.call('ZADD', EZ, now, key)
end

-- Every key of the user lives maxAge (plus a margin) after its last write.
local function keep ()
  redis.call('PEXPIRE', L, ttl)
  redis.call('PEXPIRE', E, ttl)
  redis.call('PEXPIRE', EZ, ttl)
  redis.call('PEXPIRE', A, ttl)
  redis.call('PEXPIRE', AZ, ttl)
end

-- Expired ended records and aliases leave by their time index, a bounded batch per call,
-- so a user's index never only grows.
local function prune (batch)
  local cutoff = now - maxAge
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', EZ, '-inf', cutoff, 'LIMIT', 0, batch)) do
    redis.call('HDEL', E, k)
    redis.call('ZREM', EZ, k)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', AZ, '-inf', cutoff, 'LIMIT', 0, batch)) do
    redis.call('HDEL', A, id)
    redis.call('ZREM', AZ, id)
  end
end
`

/** ARGV 5 id, 6 touchEvery. Returns {'live', key} | {'idle', key} | {'ended', reason} | {'unknown'}. */
export const CHECK = `${PRELUDE}
local key = resolve(ARGV[5])
local reason = endedReason(key)
if reason then return {'ended', reason} end
local v = redis.call('HGET', L, key)
if not v then return {'unknown'} end
local c, u, g = rec(v)
if tooOld(c) then
  redis.call('HDEL', L, key)
  return {'unknown'}
end
if isIdle(u) then return {'idle', key, g} end
if now - tonumber(u) >= tonumber(ARGV[6]) then
  redis.call('HSET', L, key, val(c, nowS, g))
  keep()
end
return {'live', key}
`

/** ARGV 5 session key. Records a use (write-behind from a gateway's cache); never revives an idle or ended session. */
export const TOUCH = `${PRELUDE}
local key = ARGV[5]
local v = redis.call('HGET', L, key)
if not v then return 0 end
local c, u, g = rec(v)
if isIdle(u) or tonumber(u) >= now then return 0 end
redis.call('HSET', L, key, val(c, nowS, g))
keep()
return 1
`

/**
 * ARGV 5 id, 6 limit, 7 policy, 8 group ('' for none), 9 n, 10.. the n sessions the device carried (same user).
 * (Lua's string comparison in the sort is byte order: keys are base64url, so
 * it agrees with JavaScript's.)
 * Returns {1, key, createdAt, lastUsedAt, reason, ...(each session it ended)} | {0, 'limit' | 'ended'}.
 */
export const ADMIT = `${PRELUDE}
prune(100)
local id, limit, policy, group, n = ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], tonumber(ARGV[9])
local key = resolve(id)
if endedReason(key) then return {0, 'ended'} end

-- The answer is built in one table (no unpack: Lua's stack would cap how many sessions it can list).
local ended = {1}
local tookSlot = false
-- The device's previous sessions end; one that still counted hands its slot over.
local function endReplaced (skip)
  for i = 1, n do
    local r = resolve(ARGV[9 + i])
    if r ~= skip and r ~= id and not endedReason(r) then
      local v = redis.call('HGET', L, r)
      if v then
        local c, u = rec(v)
        if counts(c, u) then tookSlot = true end
        table.insert(ended, r)
        table.insert(ended, c)
        table.insert(ended, u)
        table.insert(ended, 'replaced')
        endSession(r, 'replaced')
      end
    end
  end
end

-- Already admitted (the same answer seen twice, or re-sent after a reconnect): end nothing more.
local existing = redis.call('HGET', L, key)
if existing then
  local c, u, g = rec(existing)
  if counts(c, u) then
    redis.call('HSET', L, key, val(c, nowS, g))
    endReplaced(key)
    keep()
    return ended
  end
end
if key ~= id then
  redis.call('HDEL', A, id)
  redis.call('ZREM', AZ, id)
end
endReplaced(id)

-- An idle session coming back keeps its login time (its maxAge runs from it).
local createdAt = nowS
local stale = redis.call('HGET', L, id)
if stale then
  local c = rec(stale)
  if not tooOld(c) then createdAt = c end
  redis.call('HDEL', L, id)
end

local function admit ()
  redis.call('HSET', L, id, val(createdAt, nowS, group))
  keep()
  return ended
end

-- The user's live sessions, pruning those past maxAge on every path (an
-- unlimited user's index must not only grow either).
local counting = {}
local all = redis.call('HGETALL', L)
for i = 1, #all, 2 do
  local k = all[i]
  local c, u = rec(all[i + 1])
  if tooOld(c) then
    redis.call('HDEL', L, k)
  elseif not isIdle(u) then
    table.insert(counting, { k, tonumber(c), tonumber(u), c, u })
  end
end
if tookSlot or limit == 0 or #counting < limit then return admit() end
if policy == 'reject-new' then
  -- The app has already created this session; it must not be usable.
  endSession(id, 'concurrent_login_limit')
  keep()
  return {0, 'limit'}
end
-- evict-oldest: earliest login first; evict-idlest: least recently used first; ties by login, then key.
table.sort(counting, function (a, b)
  if policy ~= 'evict-oldest' and a[3] ~= b[3] then return a[3] < b[3] end
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[1] < b[1]
end)
for i = 1, #counting + 1 - limit do
  local s = counting[i]
  table.insert(ended, s[1])
  table.insert(ended, s[4])
  table.insert(ended, s[5])
  table.insert(ended, 'concurrent_login_limit')
  endSession(s[1], 'concurrent_login_limit')
end
return admit()
`

/**
 * KEYS 6 the alias list of the session. ARGV 5 from (session key), 6 to, 7 aliases kept per session.
 * Returns {1, ''} | {0, 'ended'} | {0, ''}.
 */
export const ROTATE = `${PRELUDE}
local from, to, cap = ARGV[5], ARGV[6], tonumber(ARGV[7])
local key = resolve(from)
local reason = endedReason(key)
if reason then
  -- Ended meanwhile: the new cookie is ended too, so it cannot slip in.
  if not endedReason(to) then endSession(to, reason) end
  keep()
  return {0, 'ended'}
end
local v = redis.call('HGET', L, key)
if not v then return {0, ''} end
local c, _, g = rec(v)
if tooOld(c) then return {0, ''} end
local toKey = resolve(to)
if toKey ~= key then
  if endedReason(toKey) then return {0, 'ended'} end
  redis.call('HDEL', L, to)
  redis.call('HSET', A, to, key .. ',' .. nowS)
  redis.call('ZADD', AZ, now, to)
  local AL = KEYS[6]
  redis.call('RPUSH', AL, to)
  -- The newest cookies matter most (they are the ones in use); the oldest go first.
  while redis.call('LLEN', AL) > cap do
    local old = redis.call('LPOP', AL)
    local ov = redis.call('HGET', A, old)
    if ov and pair(ov) == key then
      redis.call('HDEL', A, old)
      redis.call('ZREM', AZ, old)
    end
  end
  redis.call('PEXPIRE', AL, ttl)
end
redis.call('HSET', L, key, val(c, nowS, g))
keep()
return {1, ''}
`

/**
 * ARGV 5 reason, 6.. ids. Returns {key, createdAt, lastUsedAt, reason, ...} of the live sessions it ended.
 * Reason '' only takes the ids out of this user's sessions (their cookie now belongs to another user).
 */
export const END = `${PRELUDE}
local reason = ARGV[5]
local out = {}
for i = 6, #ARGV do
  local key = resolve(ARGV[i])
  if reason == '' then
    redis.call('HDEL', L, ARGV[i])
  elseif not endedReason(key) then
    local v = redis.call('HGET', L, key)
    if v then
      local c, u = rec(v)
      table.insert(out, key)
      table.insert(out, c)
      table.insert(out, u)
      table.insert(out, reason)
    end
    endSession(key, reason)
  end
end
keep()
return out
`

/** Returns {key, createdAt, lastUsedAt, '', ...} of the user's tracked sessions, pruning those past maxAge. */
export const SESSIONS = `${PRELUDE}
local out = {}
local all = redis.call('HGETALL', L)
for i = 1, #all, 2 do
  local c, u = rec(all[i + 1])
  if tooOld(c) then
    redis.call('HDEL', L, all[i])
  else
    table.insert(out, all[i])
    table.insert(out, c)
    table.insert(out, u)
    table.insert(out, '')
  end
end
return out
`

/** Prunes everything past maxAge, then returns {live, ended, aliases} for the user. */
export const STATS = `${PRELUDE}
for _ = 1, 100 do
  if redis.call('ZCOUNT', EZ, '-inf', now - maxAge) == 0 and redis.call('ZCOUNT', AZ, '-inf', now - maxAge) == 0 then break end
  prune(1000)
end
local all = redis.call('HGETALL', L)
for i = 1, #all, 2 do
  local c = rec(all[i + 1])
  if tooOld(c) then redis.call('HDEL', L, all[i]) end
end
return { redis.call('HLEN', L), redis.call('HLEN', E), redis.call('HLEN', A) }
`

/**
 * The pointer of a cookie id to its user, set only if the id is not already
 * ended there. KEYS 1 pointer. ARGV 1 now, 2 maxAge, 3 ttl, 4 user.
 * Returns {'ended'} when an unexpired ended pointer is in the way, else
 * {'ok', previous user or ''} (a cookie id an app handed to another user).
 */
export const SET_POINTER = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 2) == 'e,' then
  local at = tonumber(string.match(v, '^e,(%d+),'))
  if at and tonumber(ARGV[1]) - at < tonumber(ARGV[2]) then return {'ended'} end
end
redis.call('SET', KEYS[1], 'u,' .. ARGV[4], 'PX', ARGV[3])
if v and string.sub(v, 1, 2) == 'u,' and string.sub(v, 3) ~= ARGV[4] then return {'ok', string.sub(v, 3)} end
return {'ok', ''}
`

/**
 * Ends a cookie id whose user is not known: records it ended unless it has a
 * user by now (then the caller ends it under that user).
 * KEYS 1 pointer. ARGV 1 now, 2 maxAge, 3 ttl, 4 reason.
 * Returns {'new'} | {'ended'} (already) | {'user', name}.
 */
export const END_POINTER = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 2) == 'u,' then return {'user', string.sub(v, 3)} end
if v and string.sub(v, 1, 2) == 'e,' then
  local at = tonumber(string.match(v, '^e,(%d+),'))
  if at and tonumber(ARGV[1]) - at < tonumber(ARGV[2]) then return {'ended'} end
end
redis.call('SET', KEYS[1], 'e,' .. ARGV[1] .. ',' .. ARGV[4], 'PX', ARGV[3])
return {'new'}
`
