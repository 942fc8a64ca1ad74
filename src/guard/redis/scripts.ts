/**
 * The guard's Lua scripts. Each step of an attempt runs inside one script
 * call, so it is atomic across every gateway of a fleet: 500 attempts fired
 * at once through several gateways are decided one after the other inside
 * Redis, and exactly `threshold` of them are charged. The steps mirror
 * counter.ts (the memory store's logic) and say where.
 *
 * Counters are numbered 1 userNetwork, 2 network, 3 user, 4 logins; a set
 * of them is a bit mask (1, 2, 4, 8). Three keys: the logins counter lives in
 * the user's hash under fields of its own (`lf`, `le`, `j:ID`), so a login
 * reads and writes three keys, not four (keys.ts).
 *
 * Times inside the hashes are the gateway's clock (`now`, passed in); a key's
 * own expiry is always relative (PEXPIRE), never an absolute date, so Redis
 * and the gateway need not agree on the time (and tests may run a fake clock
 * years away).
 *
 * Both steps are idempotent: ioredis re-sends commands that were in flight when a
 * connection dropped (NOTES-proxy.md, ioredis). A charge re-sent finds its own
 * in-flight field and changes nothing; a settle re-sent finds it gone.
 */

/**
 * The steps of attempts, as many as one gateway asked for in one turn of its
 * event loop, in the order asked (redis-guard.ts `#send`): under load that is
 * many logins, and one script call for all of them costs the gateway and
 * Redis a fraction of one call each (a command's encoding, its write and its
 * reply are most of what a step costs; bench/analysis.md). Each step is
 * decided exactly as if alone, one after the other; the call as a whole is
 * atomic too, which only makes it stricter.
 *
 * KEYS 1 the blocks index, then three per step: userNetwork, network, user
 * (which holds logins too).
 * ARGV 1 the rules, comma-separated: 1/2 userNetwork threshold and window,
 * 3/4 network, 5/6 user (threshold 0: off), 7/8 logins (0: off),
 * 9 inFlightTimeout, 10/11/12 block base, max and history;
 * ARGV 2 the length of the keys' common start (what the index names a key by);
 * then four per step: what (`c` a charge, else a settle's outcome: success |
 * failure | neutral), now, the attempt id, and a mask (a charge: the
 * counters to judge and charge; a settle: the counters its charge holds).
 * Returns one reply per step:
 * - a charge: {1, mask charged} | {0, retry ms, mask refusing, 1 if a key is blocked else 0};
 * - a settle: {1 if anything was settled else 0, then per block: counter number, until, failures, times};
 * - a step that failed: {-1, the error} (what it wrote before failing stays, as it would in a call of its own).
 */
export const STEPS = `
-- Where each counter lives: its key, its count and window-end fields (its charges in flight: 'i:ID', logins 'j:ID').
local KEY = {1, 2, 3, 3}
local KEPT = {'f', 'f', 'f', 'lf'}
local WINDOW = {'e', 'e', 'e', 'le'}
local SATURATED_RETRY_MS = 1000
local MAX_HISTORY = 32

local R = {}
for x in string.gmatch(ARGV[1], '[^,]+') do table.insert(R, tonumber(x)) end
local LIMIT = {R[1], R[3], R[5], R[7]}
local LENGTH = {R[2], R[4], R[6], R[8]}
local inFlightTimeout, base, max, history = R[9], R[10], R[11], R[12]
local baseLength = tonumber(ARGV[2])
local INDEX = KEYS[1]

-- Lua numbers are doubles: written as whole numbers, never as 1.7e+12.
local function num (x) return string.format('%d', x) end
local BIT = {1, 2, 4, 8}
local function has (mask, i) return mask % (2 * BIT[i]) >= BIT[i] end
-- A key's expiry only ever grows: it covers the longest of what it holds.
local function extend (key, ms)
  if ms > 0 and redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, math.ceil(ms)) end
end

-- Every field of a key, read once (one HGETALL; a new user's keys are empty):
-- its counters' values (nil: an empty key), its live charges of each kind, whether
-- this attempt's own are among them, what the key must outlive (ttl), and its
-- charges past their deadline (nil: none; dropped: their settle never came).
-- Few tables and no substrings: this runs for every key of every login.
local function load (name, now, mineI, mineJ)
  local all = redis.call('HGETALL', name)
  local n = #all
  local ttl = inFlightTimeout
  if n == 0 then return nil, 0, 0, false, false, ttl, nil end
  local v, fi, fj, mi, mj, stale = {}, 0, 0, false, false, nil
  for j = 1, n, 2 do
    local f, x = all[j], all[j + 1]
    local c = string.byte(f, 1)
    -- 'i:' (105) and 'j:' (106): a charge in flight; the counters' own fields are shorter than 3.
    if (c == 105 or c == 106) and #f > 2 then
      local d = tonumber(x)
      if d > now then
        if c == 105 then fi = fi + 1 else fj = fj + 1 end
        if d - now > ttl then ttl = d - now end
      else
        if stale == nil then stale = {} end
        stale[#stale + 1] = f
      end
      if f == mineI then mi = true elseif f == mineJ then mj = true end
    elseif f == 'h' then
      local t = tonumber(string.match(x, '([^,]+)$')) + history - now
      if t > ttl then ttl = t end
    else
      local t = tonumber(x)
      v[f] = t
      if (f == 'e' or f == 'le' or f == 'b') and t - now > ttl then ttl = t - now end
    end
  end
  return v, fi, fj, mi, mj, ttl, stale
end

-- A charge (the memory store: memory-guard.ts chargeNow).
local function charge (k1, k2, k3, now, id, applied)
  local mineI, mineJ = 'i:' .. id, 'j:' .. id
  local names = {k1, k2, k3}
  -- Per key (1-3), what load() read; loaded[k]: read yet.
  local loaded, V, FI, FJ, TTL, STALE, DROP = {}, {}, {}, {}, {}, {}, {}
  local first = true
  local retry, refusing, blocked = 0, 0, 0
  for i = 1, 4 do
    if has(applied, i) then
      local k = KEY[i]
      if not loaded[k] then
        local v, fi, fj, mi, mj, ttl, stale = load(names[k], now, mineI, mineJ)
        loaded[k], V[k], FI[k], FJ[k], TTL[k], STALE[k] = true, v, fi, fj, ttl, stale
        -- Re-sent after a reconnect: already charged (its first counter's key holds its charge).
        if first and ((i < 4 and mi) or (i == 4 and mj)) then return {1, applied} end
      end
      first = false
      local v = V[k]
      local kept, windowEnd, blockedUntil, inFlight = 0, 0, 0, FI[k]
      if i == 4 then inFlight = FJ[k] end
      if v ~= nil then
        kept, windowEnd = v[KEPT[i]] or 0, v[WINDOW[i]] or 0
        -- logins never blocks: the user's block is the user counter's alone.
        if i < 4 then blockedUntil = v.b or 0 end
      end
      -- refresh(): an ended block or window is over (and its fields go).
      if blockedUntil ~= 0 and blockedUntil <= now then
        blockedUntil = 0
        local drop = DROP[k] or {}
        drop[#drop + 1] = 'b'
        drop[#drop + 1] = 'k'
        DROP[k] = drop
      end
      if windowEnd ~= 0 and windowEnd <= now then
        kept, windowEnd = 0, 0
        local drop = DROP[k] or {}
        drop[#drop + 1] = KEPT[i]
        drop[#drop + 1] = WINDOW[i]
        DROP[k] = drop
      end
      -- judge() (the retry is the longest wait among the counters).
      local limit, wait = LIMIT[i], 0
      if blockedUntil > now then
        wait = blockedUntil - now
        blocked = 1
      elseif kept >= limit then
        wait = math.max(windowEnd - now, 1)
      elseif kept + inFlight >= limit then
        wait = SATURATED_RETRY_MS
      end
      if wait > 0 then
        refusing = refusing + BIT[i]
        if wait > retry then retry = wait end
      end
    end
  end
  -- A refused attempt leaves nothing behind.
  if refusing > 0 then return {0, retry, refusing, blocked} end

  local deadline = num(now + inFlightTimeout)
  for k = 1, 3 do
    if loaded[k] then
      local name = names[k]
      local stale, drop = STALE[k], DROP[k]
      if drop ~= nil then
        stale = stale or {}
        for _, f in ipairs(drop) do stale[#stale + 1] = f end
      end
      if stale ~= nil then redis.call('HDEL', name, unpack(stale)) end
      if k == 3 and has(applied, 3) and has(applied, 4) then
        redis.call('HSET', name, mineI, deadline, mineJ, deadline)
      elseif k == 3 and has(applied, 4) then
        redis.call('HSET', name, mineJ, deadline)
      else
        redis.call('HSET', name, mineI, deadline)
      end
      -- Every field was read above: the expiry is set exactly, no PTTL needed.
      redis.call('PEXPIRE', name, math.ceil(TTL[k]))
    end
  end
  return {1, applied}
end

-- A settle (memory-guard.ts settleNow). Only what an outcome changes is read
-- and written: most settles are successes, which on the network and user
-- counters only give the charge back.
local function settle (k1, k2, k3, now, id, outcome, mask)
  local out = {0}
  local names = {k1, k2, k3}
  -- Each charge given back (one HDEL per key: the user's key holds two); gone[i]: counter i's was there.
  local gone = {false, false, false, false}
  if has(mask, 1) then gone[1] = redis.call('HDEL', k1, 'i:' .. id) == 1 end
  if has(mask, 2) then gone[2] = redis.call('HDEL', k2, 'i:' .. id) == 1 end
  if has(mask, 3) and has(mask, 4) then
    -- Charged and dropped together (one deadline): both there or neither.
    local n = redis.call('HDEL', k3, 'i:' .. id, 'j:' .. id)
    gone[3], gone[4] = n > 0, n > 0
  elseif has(mask, 3) then
    gone[3] = redis.call('HDEL', k3, 'i:' .. id) == 1
  elseif has(mask, 4) then
    gone[4] = redis.call('HDEL', k3, 'j:' .. id) == 1
  end
  for i = 1, 4 do
    local key = names[KEY[i]]
    if gone[i] then
      out[1] = 1
      if i == 4 then
        -- logins: only a success is a login; anything else is refunded.
        local window = LENGTH[4]
        if outcome == 'success' and LIMIT[4] > 0 then
          local v = redis.call('HMGET', key, 'lf', 'le')
          local kept, windowEnd = tonumber(v[1]) or 0, tonumber(v[2]) or 0
          local opened = windowEnd <= now
          if opened then
            kept = 0
            windowEnd = now + window
          end
          redis.call('HSET', key, 'lf', num(kept + 1), 'le', num(windowEnd))
          -- A new window: the key's expiry (set at the charge) may be shorter. After the
          -- HSET: the HDEL above may have emptied (deleted) the key, and HSET made it anew.
          if opened then extend(key, window) end
        end
      elseif outcome == 'success' and i == 1 then
        -- The user signed in from here: the userNetwork count is cleared (memory-guard.ts says why only this one).
        redis.call('HDEL', key, 'f', 'e')
      elseif outcome == 'failure' then
        -- keepFailure(); a failure during a block adds nothing.
        local limit, window = LIMIT[i], LENGTH[i]
        local v = redis.call('HMGET', key, 'f', 'e', 'b')
        local kept, windowEnd, blockedUntil = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
        -- refresh()
        if blockedUntil ~= 0 and blockedUntil <= now then
          blockedUntil = 0
          redis.call('HDEL', key, 'b', 'k')
        end
        if limit > 0 and blockedUntil <= now then
          local opened = windowEnd <= now
          if opened then
            kept = 0
            windowEnd = now + window
          end
          kept = kept + 1
          if kept < limit then
            redis.call('HSET', key, 'f', num(kept), 'e', num(windowEnd))
            if opened then extend(key, window) end
          else
            local times = {}
            local h = redis.call('HGET', key, 'h')
            if h then
              for t in string.gmatch(h, '[^,]+') do
                if tonumber(t) > now - history then table.insert(times, t) end
              end
            end
            table.insert(times, num(now))
            while #times > MAX_HISTORY do table.remove(times, 1) end
            local length = math.min(base * 2 ^ (#times - 1), max)
            local blockEnd = now + length
            redis.call('HDEL', key, 'f', 'e')
            redis.call('HSET', key, 'b', num(blockEnd), 'k', num(kept), 'h', table.concat(times, ','))
            -- Kept as long as its history matters (the next block's length).
            extend(key, math.max(length, history))
            redis.call('ZADD', INDEX, blockEnd, string.sub(key, baseLength + 1))
            redis.call('ZREMRANGEBYSCORE', INDEX, '-inf', now)
            extend(INDEX, length)
            table.insert(out, i)
            table.insert(out, blockEnd)
            table.insert(out, kept)
            table.insert(out, #times)
          end
        end
      end
    end
  end
  return out
end

local out = {}
local k = 2
for a = 3, #ARGV, 4 do
  local what, now, id, mask = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], tonumber(ARGV[a + 3])
  -- A step that fails (a key of another type, a field written by hand) fails
  -- alone, as its own call would have: the steps before and after it stand.
  local ok, reply
  if what == 'c' then
    ok, reply = pcall(charge, KEYS[k], KEYS[k + 1], KEYS[k + 2], now, id, mask)
  else
    ok, reply = pcall(settle, KEYS[k], KEYS[k + 1], KEYS[k + 2], now, id, what, mask)
  end
  if not ok then
    if type(reply) == 'table' then reply = reply.err end
    reply = {-1, tostring(reply)}
  end
  out[#out + 1] = reply
  k = k + 3
end
return out
`

/**
 * Lifts blocks: forgets each key given (its block, history and count) and
 * takes it out of the index. KEYS 1 the index, 2.. the keys.
 * ARGV 1 now, 2 length of the keys' common start.
 * Returns, per key that was blocked: its name in the index, until, failures, times.
 */
export const LIFT = `
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local member = string.sub(KEYS[i], tonumber(ARGV[2]) + 1)
  local blockEnd = tonumber(redis.call('ZSCORE', KEYS[1], member))
  if blockEnd and blockEnd > now then
    local v = redis.call('HMGET', KEYS[i], 'k', 'h')
    local times = 0
    if v[2] then for _ in string.gmatch(v[2], '[^,]+') do times = times + 1 end end
    table.insert(out, member)
    table.insert(out, blockEnd)
    table.insert(out, tonumber(v[1]) or 0)
    table.insert(out, times)
  end
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], member)
end
return out
`
