"""Every Lua script of the Redis task queue and the group barrier, in one place.

Each multi-key write of the distributed backend is one of these scripts, so Redis applies it atomically: a task is
never acknowledged without its completion being recorded, never dead-lettered without leaving the stream, never
promoted from the delayed set twice. The keys each script touches are documented in ``docs/redis-keys.md``.

Stream entries carry the fields ``p`` (signed payload), ``t`` (task id) and ``g`` (group/barrier id, may be empty)
and, after a delayed retry, ``n`` (deliveries made before the entry was re-added, so the delivery budget survives
re-enqueueing). ``t`` and ``g`` are unsigned hints: they serve inspection and let a rejected payload fail its group
instead of leaving it waiting; they never decide what code runs.
"""

from __future__ import annotations

#: Acknowledge and delete entries. KEYS: stream. ARGV: group, id... Returns the number acknowledged.
ACK = """
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return n
"""

#: Reset the idle time of entries still owned by ``consumer`` (lease renewal). An entry that another consumer has
#: reclaimed meanwhile is left alone and reported as lost. KEYS: stream. ARGV: group, consumer, id...
RENEW = """
local lost, keep = {}, {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 0 or p[1][2] ~= ARGV[2] then table.insert(lost, ARGV[i]) else table.insert(keep, ARGV[i]) end
end
if #keep > 0 then redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(keep), 'JUSTID') end
return lost
"""

#: Hand entries owned by ``consumer`` back for immediate redelivery without spending a delivery: their idle time is
#: set past the lease and their delivery counter is decremented. KEYS: stream. ARGV: group, consumer, idle_ms, id...
RELEASE = """
local released = 0
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p > 0 and p[1][2] == ARGV[2] then
    local count = math.max(tonumber(p[1][4]) - 1, 0)
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'RETRYCOUNT', count, 'JUSTID')
    released = released + 1
  end
end
return released
"""

#: Move one entry to the dead-letter stream with its reason and original payload, then acknowledge and delete it.
#: KEYS: stream, dead. ARGV: group, id, reason, detail, consumer, deliveries, now, dead_maxlen.
#: Returns {task_id, group_id} hints of the entry (empty strings when unknown).
DEAD_LETTER = """
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
local payload, task, group = '', '', ''
if #e > 0 then
  local f = e[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'p' then payload = f[i + 1] elseif f[i] == 't' then task = f[i + 1]
    elseif f[i] == 'g' then group = f[i + 1] end
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'reason', ARGV[3], 'detail', ARGV[4], 'task_id', task,
  'group_id', group, 'entry_id', ARGV[2], 'consumer', ARGV[5], 'deliveries', ARGV[6], 'dead_at', ARGV[7],
  'payload', payload)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return {task, group}
"""

#: Claim entries whose lease expired (idle >= min_idle). Entries that already used their delivery budget go to the
#: dead-letter stream instead. KEYS: stream, dead. ARGV: group, consumer, min_idle_ms, max_deliveries, count, now,
#: dead_maxlen. Returns {{id, fields, deliveries}...} claimed and {{id, task_id, group_id, deliveries}...}
#: dead-lettered.
RECLAIM = """
local pend = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[5])
local claimed, dead = {}, {}
for _, p in ipairs(pend) do
  local id, owner, delivered = p[1], p[2], tonumber(p[4])
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #e == 0 then
    redis.call('XACK', KEYS[1], ARGV[1], id)
  else
    local f = e[1][2]
    local prior, payload, task, group = 0, '', '', ''
    for i = 1, #f, 2 do
      if f[i] == 'n' then prior = tonumber(f[i + 1])
      elseif f[i] == 'p' then payload = f[i + 1]
      elseif f[i] == 't' then task = f[i + 1]
      elseif f[i] == 'g' then group = f[i + 1] end
    end
    if delivered + prior >= tonumber(ARGV[4]) then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'reason', 'max_deliveries',
        'detail', 'lease expired after ' .. (delivered + prior) .. ' deliveries (last consumer ' .. owner .. ')',
        'task_id', task, 'group_id', group, 'entry_id', id, 'consumer', owner, 'deliveries', delivered + prior,
        'dead_at', ARGV[6], 'payload', payload)
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XDEL', KEYS[1], id)
      table.insert(dead, {id, task, group, delivered + prior})
    else
      local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], id)
      if #c > 0 then table.insert(claimed, {id, f, delivered + prior + 1}) end
    end
  end
end
return {claimed, dead}
"""

#: Park an entry in the delayed set and remove it from the stream. KEYS: stream, delayed. ARGV: group, id, due,
#: member (see :func:`graflow.distributed.streams.pack_delayed`).
RETRY_LATER = """
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

#: Move due members of the delayed set into the stream. KEYS: delayed, stream. ARGV: now, limit.
#: Member layout (:func:`graflow.distributed.streams.pack_delayed`): 32-char id, 10-digit prior deliveries, 6-digit
#: task-id length, task id, 6-digit group-id length, group id, payload. Returns {moved, next_due_score_or_false}.
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do
  local prior = tonumber(string.sub(m, 33, 42))
  local tl = tonumber(string.sub(m, 43, 48))
  local task = string.sub(m, 49, 48 + tl)
  local gl = tonumber(string.sub(m, 49 + tl, 54 + tl))
  local group = string.sub(m, 55 + tl, 54 + tl + gl)
  local payload = string.sub(m, 55 + tl + gl)
  redis.call('XADD', KEYS[2], '*', 't', task, 'g', group, 'p', payload, 'n', prior)
  redis.call('ZREM', KEYS[1], m)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {#due, false} end
return {#due, nxt[2]}
"""

#: Record a member completion once (HSETNX) and wake the waiter when the last distinct member completed.
#: KEYS: completions hash, expected counter, wake list. ARGV: task_id, completion json, ttl seconds.
#: Returns {1 if this call recorded it, completions so far}.
_COMPLETE_BODY = """
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
local n = redis.call('HLEN', KEYS[1])
if added == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  local expected = tonumber(redis.call('GET', KEYS[2]) or '-1')
  if expected >= 0 and n >= expected then
    redis.call('DEL', KEYS[3])
    redis.call('RPUSH', KEYS[3], 'complete')
    redis.call('EXPIRE', KEYS[3], ARGV[3])
  end
end
"""

COMPLETE = _COMPLETE_BODY + "return {added, n}\n"

#: :data:`COMPLETE` and :data:`ACK` in one step: the completion is never recorded without the acknowledgement, nor
#: the reverse. KEYS: completions, expected, wake, stream. ARGV: task_id, json, ttl, group, entry_id.
COMPLETE_AND_ACK = (
    _COMPLETE_BODY
    + """
redis.call('XACK', KEYS[4], ARGV[4], ARGV[5])
redis.call('XDEL', KEYS[4], ARGV[5])
return {added, n}
"""
)

#: Add many entries in one call (cheaper than one command per entry, for client and server alike).
#: KEYS: stream. ARGV: '1' to return the new entry ids ('0': their number), then triples of task id, group id,
#: signed payload. Returns the new entry ids in order, or how many were added.
ENQUEUE_MANY = """
local ids = {}
for i = 2, #ARGV, 3 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 't', ARGV[i], 'g', ARGV[i + 1], 'p', ARGV[i + 2])
end
if ARGV[1] == '1' then return ids end
return #ids
"""

#: Finish many deliveries of one consumer at once. For each, atomically and only while the consumer still owns its
#: entry (the fence): write the task's buffered channel keys, record its completion once in its barrier (as
#: :data:`COMPLETE`), then acknowledge and delete the entry. A delivery whose barrier already holds its completion
#: (a redelivered task that another delivery finished) writes nothing and is only acknowledged, so results come
#: from the delivery that completed the task.
#: KEYS: stream, then for each barrier of the batch its completions, expected and wake keys, then the channel keys
#: of every delivery in order. ARGV: group, consumer, ttl, number of barriers, then per delivery: entry id, task id,
#: barrier number (1-based; 0 when it belongs to none), completion json, number of channel writes, then that many
#: (encoded value, ttl ms or '') pairs.
#: Returns per delivery: 1 finished, 0 acknowledged as a duplicate, -1 not owned any more (nothing written).
FINISH_MANY = """
local stream, group, consumer, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local a, k, out = 5, 2 + 3 * tonumber(ARGV[4]), {}
while a <= #ARGV do
  local entry, task, b, body, nw = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3], tonumber(ARGV[a + 4])
  a = a + 5
  local ck = 2 + 3 * (b - 1)
  local p = redis.call('XPENDING', stream, group, entry, entry, 1)
  if #p == 0 or p[1][2] ~= consumer then
    out[#out + 1] = -1
  elseif b > 0 and redis.call('HEXISTS', KEYS[ck], task) == 1 then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    out[#out + 1] = 0
  else
    for w = 0, nw - 1 do
      local px = ARGV[a + 2 * w + 1]
      if px ~= '' then
        redis.call('SET', KEYS[k + w], ARGV[a + 2 * w], 'PX', px)
      else
        redis.call('SET', KEYS[k + w], ARGV[a + 2 * w])
      end
    end
    if b > 0 then
      redis.call('HSET', KEYS[ck], task, body)
      redis.call('EXPIRE', KEYS[ck], ttl)
      local expected = tonumber(redis.call('GET', KEYS[ck + 1]) or '-1')
      if expected >= 0 and redis.call('HLEN', KEYS[ck]) >= expected then
        redis.call('DEL', KEYS[ck + 2])
        redis.call('RPUSH', KEYS[ck + 2], 'complete')
        redis.call('EXPIRE', KEYS[ck + 2], ttl)
      end
    end
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    out[#out + 1] = 1
  end
  a = a + 2 * nw
  k = k + nw
end
return out
"""

#: Arm a barrier: store the expected member count and the group's metadata (JSON, e.g. the ids of the tasks that
#: triggered the group, which feed keyword resolution on the workers) and clear a stale wake token. If every member
#: already completed (possible only on re-arm) the wake token is pushed at once.
#: KEYS: completions, expected, wake, meta. ARGV: expected, ttl, meta json.
ARM_BARRIER = """
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[2])
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('RPUSH', KEYS[3], 'complete')
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return 1
"""

__all__ = [
    "ACK",
    "ARM_BARRIER",
    "COMPLETE",
    "COMPLETE_AND_ACK",
    "DEAD_LETTER",
    "ENQUEUE_MANY",
    "FINISH_MANY",
    "PROMOTE",
    "RECLAIM",
    "RELEASE",
    "RENEW",
    "RETRY_LATER",
]
