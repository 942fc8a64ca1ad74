/**
 * The Lua scripts of the Redis store. Each runs atomically inside Redis on
 * the keys of one user (one hash tag, so also on Redis Cluster), and mirrors
 * the memory store line for line: `decide` in domain/policy.ts is the
 * admission rule, `counts`/`isIdle`/`isTooOld` in domain/session.ts the rules
 * of time. The contract suite (test/store/contract.ts) holds both stores to
 * the same behaviour.
 *
 * Every ending is announced on the endings channel by the script that
 * records it (PUBLISH inside the script: one atomic step), so no ending can be
 * recorded and go unannounced, even when its answer is lost or the gateway
 * that asked dies. Gateways trust their caches on that (redis-store.ts).
 *
 * Every script is idempotent: a script whose answer was lost or late may be
 * run again. Admitting a session that is already live ends nothing more;
 * ending an ended session changes nothing; a rotation already recorded is
 * recorded again to the same effect.
 *
 * KEYS (all scripts): 1 live, 2 ended, 3 endedz, 4 alias, 5 aliasz, 6 meta (see keys.ts).
 * ARGV (all scripts): 1 now, 2 maxAge, 3 idleTimeout, 4 key ttl (ms), then the script's own.
 *
 * Records (fields never hold a comma: the store escapes them):
 *   live   "createdAt,lastUsedAt[,group[,pendingUntil]]"
 *   ended  "endedAt,reason[,device,ip]"   (the device that ended it)
 *   meta   "device,ip"                     (the session's own device)
 * Sessions are answered as flat 7-tuples: key, createdAt, lastUsedAt, reason,
 * device, ip, pendingUntil ('' where none).
 */

const PRELUDE = `
local L, E, EZ, A, AZ, M = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local nowS = ARGV[1]
local now = tonumber(ARGV[1])
local maxAge = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
-- The endings channel (keys.ts endedChannel): the key prefix (which holds no '{'), then 'ended'.
local CH = string.match(KEYS[1], '^([^{]*){') .. 'ended'

local function pair (v)
  local a, b = string.match(v, '^([^,]*),(.*)$')
  return a, b
end
-- A live record: createdAt, lastUsedAt, group ('' for none), pendingUntil ('' for none).
local function rec (v)
  local c, u, g, p = string.match(v, '^([^,]*),([^,]*),?([^,]*),?([^,]*)$')
  return c, u, g or '', p or ''
end
local function val (c, u, g, p)
  if p ~= nil and p ~= '' then return c .. ',' .. u .. ',' .. (g or '') .. ',' .. p end
  if g ~= nil and g ~= '' then return c .. ',' .. u .. ',' .. g end
  return c .. ',' .. u
end
local function tooOld (createdAt) return now - tonumber(createdAt) >= maxAge end
local function isIdle (lastUsed) return idle > 0 and now - tonumber(lastUsed) >= idle end
local function counts (c, u, p) return not tooOld(c) and not isIdle(u) and (p == nil or p == '') end

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

-- An ended record: endedAt, reason, and the device that ended it ('' where unknown).
local function endedRec (key)
  local v = redis.call('HGET', E, key)
  if not v then return nil end
  local at, reason, d, ip = string.match(v, '^([^,]*),([^,]*),?([^,]*),?([^,]*)$')
  if now - tonumber(at) < maxAge then return reason, d or '', ip or '', at end
  redis.call('HDEL', E, key)
  redis.call('ZREM', EZ, key)
  return nil
end
local function endedReason (key)
  local reason = endedRec(key)
  return reason
end

-- A stored field as it was given (the store escapes '%' and ',').
local function unescaped (v)
  return (string.gsub(string.gsub(v, '%%2C', ','), '%%25', '%%'))
end

-- Records an ending and announces it: {"ended": [[key, reason, {device, ip, at}?]], "at": now, "s": 1}
-- ("s": announced by a script; older gateways announced their endings themselves).
local function endSession (key, reason, byDevice, byIp)
  redis.call('HDEL', L, key)
  redis.call('HDEL', M, key)
  local v = nowS .. ',' .. reason
  local item = { key, reason }
  local hasDevice, hasIp = byDevice ~= nil and byDevice ~= '', byIp ~= nil and byIp ~= ''
  if hasDevice or hasIp then
    v = v .. ',' .. (byDevice or '') .. ',' .. (byIp or '')
    item[3] = { at = now, device = hasDevice and unescaped(byDevice) or nil, ip = hasIp and unescaped(byIp) or nil }
  end
  redis.call('HSET', E, key, v)
  redis.call('ZADD', EZ, now, key)
  redis.call('PUBLISH', CH, cjson.encode({ ended = { item }, at = now, s = 1 }))
end

-- One session as the 7-tuple answer: key, createdAt, lastUsedAt, reason, device, ip, pendingUntil.
local function answer (out, key, c, u, reason, p)
  local meta = redis.call('HGET', M, key) or ','
  local d, ip = string.match(meta, '^([^,]*),(.*)$')
  table.insert(out, key)
  table.insert(out, c)
  table.insert(out, u)
  table.insert(out, reason)
  table.insert(out, d or '')
  table.insert(out, ip or '')
  table.insert(out, p or '')
end

-- Every key of the user lives maxAge (plus a margin) after its last write.
local function keep ()
  redis.call('PEXPIRE', L, ttl)
  redis.call('PEXPIRE', E, ttl)
  redis.call('PEXPIRE', EZ, ttl)
  redis.call('PEXPIRE', A, ttl)
  redis.call('PEXPIRE', AZ, ttl)
  redis.call('PEXPIRE', M, ttl)
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

-- The user's live sessions that count now, pruning those past maxAge on the way.
local function counting (exceptKey)
  local out = {}
  local all = redis.call('HGETALL', L)
  for i = 1, #all, 2 do
    local k = all[i]
    local c, u, _, p = rec(all[i + 1])
    if tooOld(c) then
      redis.call('HDEL', L, k)
      redis.call('HDEL', M, k)
    elseif k ~= exceptKey and counts(c, u, p) then
      table.insert(out, { k, tonumber(c), tonumber(u), c, u })
    end
  end
  return out
end

-- evict-oldest: earliest login first; evict-idlest: least recently used first; ties by login, then key.
-- (Lua compares strings byte by byte: keys are base64url, so it agrees with JavaScript.)
local function byPolicy (policy)
  return function (a, b)
    if policy ~= 'evict-oldest' and a[3] ~= b[3] then return a[3] < b[3] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end
end

-- Ends the sessions \`policy\` picks so that a newcomer fits in \`limit\`
-- (domain/policy.ts decide()), adding each to \`out\`; the newcomer's device and
-- address are what the ended ones are told ended them.
local function endSurplus (live, limit, policy, out, device, ip)
  table.sort(live, byPolicy(policy))
  for i = 1, #live + 1 - limit do
    local s = live[i]
    answer(out, s[1], s[4], s[5], 'concurrent_login_limit', '')
    endSession(s[1], 'concurrent_login_limit', device, ip)
  end
end
`

/**
 * ARGV 5 id, 6 touchEvery. Returns {'live', key, createdAt} | {'idle', key, group} | {'pending', key, until, group}
 * | {'ended', reason, device, ip, at, key} | {'unknown', key} (the session's key: it may be ended in the index, ended-index.ts).
 */
export const CHECK = `${PRELUDE}
local key = resolve(ARGV[5])
local reason, d, ip, at = endedRec(key)
if reason then return {'ended', reason, d, ip, at, key} end
local v = redis.call('HGET', L, key)
if not v then return {'unknown', key} end
local c, u, g, p = rec(v)
if tooOld(c) then
  redis.call('HDEL', L, key)
  redis.call('HDEL', M, key)
  return {'unknown', key}
end
if p ~= '' then return {'pending', key, p, g} end
if isIdle(u) then return {'idle', key, g} end
if now - tonumber(u) >= tonumber(ARGV[6]) then
  redis.call('HSET', L, key, val(c, nowS, g, p))
  keep()
end
return {'live', key, c}
`

/**
 * Records uses of sessions (a gateway's batch of write-behind touches); never
 * revives an idle, pending or ended session. KEYS: the six keys of each
 * session's user, one group after another (one group on Redis Cluster, where a
 * script may only reach one user's slot). ARGV 1-4 as every script (ARGV 1 is
 * not used), then per session: its key, when it was used.
 * Returns how many uses were written.
 */
export const TOUCH = `${PRELUDE}
local written = 0
for i = 0, #KEYS / 6 - 1 do
  L, E, EZ, A, AZ, M = KEYS[6 * i + 1], KEYS[6 * i + 2], KEYS[6 * i + 3], KEYS[6 * i + 4], KEYS[6 * i + 5], KEYS[6 * i + 6]
  nowS = ARGV[6 + 2 * i]
  now = tonumber(nowS)
  local key = ARGV[5 + 2 * i]
  local v = redis.call('HGET', L, key)
  if v then
    local c, u, g, p = rec(v)
    if p == '' and not isIdle(u) and tonumber(u) < now then
      redis.call('HSET', L, key, val(c, nowS, g, p))
      keep()
      written = written + 1
    end
  end
end
return written
`

/**
 * ARGV 5 id, 6 limit, 7 policy, 8 group, 9 pending until (under ask), 10 device, 11 ip,
 * 12 n, 13.. the n sessions the device carried (same user).
 * Returns {1, flag, ...7-tuples of the sessions it ended} (flag 'pending' under ask, else '')
 * | {0, 'limit' | 'ended'}.
 */
export const ADMIT = `${PRELUDE}
prune(100)
local id, limit, policy, group, pendingUntil = ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local device, ip, n = ARGV[10], ARGV[11], tonumber(ARGV[12])
local key = resolve(id)
if endedReason(key) then return {0, 'ended'} end

-- The answer is built in one table (no unpack: Lua's stack would cap how many sessions it can list).
local ended = {1, ''}
local tookSlot = false
-- The device's previous sessions end; one that still counted hands its slot over.
local function endReplaced (skip)
  for i = 1, n do
    local r = resolve(ARGV[12 + i])
    if r ~= skip and r ~= id and not endedReason(r) then
      local v = redis.call('HGET', L, r)
      if v then
        local c, u, _, p = rec(v)
        if counts(c, u, p) then tookSlot = true end
        answer(ended, r, c, u, 'replaced', p)
        endSession(r, 'replaced', device, ip)
      end
    end
  end
end

-- Already admitted (the same answer seen twice, or re-sent after a reconnect): end nothing more.
local existing = redis.call('HGET', L, key)
if existing then
  local c, u, g, p = rec(existing)
  if counts(c, u, p) then
    redis.call('HSET', L, key, val(c, nowS, g, p))
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

-- An idle session coming back keeps its login time (its maxAge runs from it)
-- and what is known of its device (the meta field stays).
local createdAt = nowS
local stale = redis.call('HGET', L, id)
if stale then
  local c = rec(stale)
  if tooOld(c) then redis.call('HDEL', M, id) else createdAt = c end
  redis.call('HDEL', L, id)
end

local function admit (pending)
  redis.call('HSET', L, id, val(createdAt, nowS, group, pending))
  if device ~= '' or ip ~= '' then redis.call('HSET', M, id, device .. ',' .. ip) end
  keep()
  return ended
end

local live = counting(id)
if tookSlot or limit == 0 or #live < limit then return admit('') end
if policy == 'reject-new' then
  -- The app has already created this session; it must not be usable. (Refused, not ended by another device: no 'by'.)
  endSession(id, 'concurrent_login_limit', '', '')
  keep()
  return {0, 'limit'}
end
if policy == 'ask' then
  ended[2] = 'pending'
  return admit(pendingUntil)
end
endSurplus(live, limit, policy, ended, device, ip)
return admit('')
`

/**
 * Decides a pending session (policy ask). ARGV 5 key, 6 policy, 7 limit.
 * Returns {'live', device, ip, ...7-tuples ended} (the session's own device
 * and address: they ended the others) | {'pending'} | {'ended', 'now' or ''}
 * ('now' when this call ended it) | {'unknown'}.
 */
export const SETTLE = `${PRELUDE}
local key, policy, limit = ARGV[5], ARGV[6], tonumber(ARGV[7])
if endedReason(key) then return {'ended', ''} end
local v = redis.call('HGET', L, key)
if not v then return {'unknown'} end
local c, u, g, p = rec(v)
if tooOld(c) then return {'unknown'} end
local meta = redis.call('HGET', M, key) or ','
local device, ip = string.match(meta, '^([^,]*),(.*)$')
local out = {'live', device, ip}
if p == '' then return out end
local live = counting(key)
if limit ~= 0 and #live >= limit then
  if policy == 'reject-new' then
    endSession(key, 'concurrent_login_limit', '', '')
    keep()
    return {'ended', 'now'}
  end
  if policy == 'ask' then return {'pending'} end
  endSurplus(live, limit, policy, out, device, ip)
end
redis.call('HSET', L, key, val(c, nowS, g, ''))
keep()
return out
`

/**
 * KEYS 7 the alias list of the session. ARGV 5 from (session key), 6 to, 7 aliases kept per session.
 * Returns {1, ''} | {0, 'ended'} | {0, '', key} (not tracked here: the key may be ended in the index).
 */
export const ROTATE = `${PRELUDE}
local from, to, cap = ARGV[5], ARGV[6], tonumber(ARGV[7])
local key = resolve(from)
local reason, d, ip = endedRec(key)
if reason then
  -- Ended meanwhile: the new cookie is ended too, so it cannot slip in.
  if not endedReason(to) then endSession(to, reason, d, ip) end
  keep()
  return {0, 'ended'}
end
local v = redis.call('HGET', L, key)
if not v then return {0, '', key} end
local c, _, g, p = rec(v)
if tooOld(c) then return {0, '', key} end
local toKey = resolve(to)
if toKey ~= key then
  if endedReason(toKey) then return {0, 'ended'} end
  redis.call('HDEL', L, to)
  redis.call('HDEL', M, to)
  redis.call('HSET', A, to, key .. ',' .. nowS)
  redis.call('ZADD', AZ, now, to)
  local AL = KEYS[7]
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
redis.call('HSET', L, key, val(c, nowS, g, p))
keep()
return {1, ''}
`

/**
 * ARGV 5 reason, 6 device and 7 ip of who ended them, 8.. ids.
 * Returns { the 7-tuples of the live sessions it ended, the ids it found
 * neither live nor ended here }. Those are not recorded here: the gateway
 * records them in the ended index, which keeps an earlier reason (an id
 * already copied there by a drain is no longer on the user's keys; a
 * tombstone written here would shadow its first reason until the next drain).
 * Reason '' only takes the ids out of this user's sessions (their cookie now
 * belongs to another user, or is ended in the index: then a rotation into it
 * is undone).
 */
export const END = `${PRELUDE}
local reason, byDevice, byIp = ARGV[5], ARGV[6], ARGV[7]
local out, absent = {}, {}
for i = 8, #ARGV do
  local key = resolve(ARGV[i])
  if reason == '' then
    redis.call('HDEL', L, ARGV[i])
    redis.call('HDEL', M, ARGV[i])
    redis.call('HDEL', A, ARGV[i])
    redis.call('ZREM', AZ, ARGV[i])
    -- Gateways that cached it as this user's forget it.
    redis.call('PUBLISH', CH, cjson.encode({ forget = { ARGV[i] } }))
  elseif not endedReason(key) then
    local v = redis.call('HGET', L, key)
    if v then
      local c, u, _, p = rec(v)
      answer(out, key, c, u, reason, p)
      endSession(key, reason, byDevice, byIp)
    else
      table.insert(absent, key)
    end
  end
end
keep()
return { out, absent }
`

/** Returns the 7-tuples of the user's tracked sessions, pruning those past maxAge. */
export const SESSIONS = `${PRELUDE}
local out = {}
local all = redis.call('HGETALL', L)
for i = 1, #all, 2 do
  local c, u, _, p = rec(all[i + 1])
  if tooOld(c) then
    redis.call('HDEL', L, all[i])
    redis.call('HDEL', M, all[i])
  else
    answer(out, all[i], c, u, '', p)
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
counting('')
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
 * Whose a cookie id is, for ending it: {'user', name} (the caller ends it
 * under that user), {'ended'} (an ended pointer of an earlier version, still
 * within maxAge), or {'none'} (the caller records it in the index,
 * ended-index.ts). KEYS 1 pointer. ARGV 1 now, 2 maxAge.
 */
export const END_POINTER = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 2) == 'u,' then return {'user', string.sub(v, 3)} end
if v and string.sub(v, 1, 2) == 'e,' then
  local at = tonumber(string.match(v, '^e,(%d+),'))
  if at and tonumber(ARGV[1]) - at < tonumber(ARGV[2]) then return {'ended'} end
end
return {'none'}
`

/** Deletes a cookie id's pointer if it still names this user (its session is ended, in the index). KEYS 1 pointer. ARGV 1 user. */
export const DROP_POINTER = `
if redis.call('GET', KEYS[1]) == 'u,' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`

/**
 * The user's ended records not yet copied to the index (ended-index.ts),
 * oldest first, at most ARGV 5: key, endedAt, reason, … (records of earlier
 * versions too, which carry the device that ended them after the reason).
 */
export const TOMBSTONES = `${PRELUDE}
local out = {}
for _, k in ipairs(redis.call('ZRANGE', EZ, 0, tonumber(ARGV[5]) - 1)) do
  local v = redis.call('HGET', E, k)
  if v then
    local at, reason = string.match(v, '^([^,]*),([^,]*)')
    table.insert(out, k)
    table.insert(out, at)
    table.insert(out, reason)
  else
    redis.call('ZREM', EZ, k)
  end
end
return out
`

/** Takes ended records the index now holds off the user's keys. ARGV 5.. pairs of key and the endedAt that was copied. */
export const CONFIRM = `${PRELUDE}
for i = 5, #ARGV, 2 do
  local v = redis.call('HGET', E, ARGV[i])
  if v and string.sub(v, 1, #ARGV[i + 1] + 1) == ARGV[i + 1] .. ',' then
    redis.call('HDEL', E, ARGV[i])
    redis.call('ZREM', EZ, ARGV[i])
  end
end
return 1
`
