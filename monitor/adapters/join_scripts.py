"""The Lua scripts of the Redis join store
(:class:`monitor.adapters.redis_join_store.RedisJoinStore`).

Each runs atomically in Redis: one call per batch and side, and per expiry chunk. A batch's new
records take their sequence numbers with one ``INCRBY`` and enter the age and open sets with one
command per 1,000 (``bulk``): Redis's cost per ``redis.call`` is most of a record's.
"""

from __future__ import annotations

import re

__all__ = ["ADD_FEEDBACK", "ADD_INFERENCES", "EXPIRE", "script_commands"]

# Keys under the prefix: i:<rid> "seq:payload"; f:<rid> hash fid -> "seq:payload"; seq counter;
# age:i / age:f sorted sets of first-arrival times; open:i / open:f sets of unmatched records;
# instance: the store's id, set (to the caller's fresh id, ARGV[4]) by the first script that finds it
# missing and returned by every script, so a Redis that lost its data (restarted without
# persistence, flushed) shows up as a changed id. It has no TTL: volatile-* eviction never takes it.
# A feedback member is "<len(rid)>:<rid><fid>" so that any characters in the ids are safe.
_HELPERS = """
local function split(v)
  local c = string.find(v, ':', 1, true)
  return tonumber(string.sub(v, 1, c - 1)), string.sub(v, c + 1)
end
-- the event a payload stands for: its leading "id" (topic:partition:offset:index), else the payload
local function event_of(v)
  return string.match(v, '^{"id":"([^"]*)"') or v
end
local p, now, ttl = ARGV[1], ARGV[2], ARGV[3]
local instance = redis.call('GET', p .. 'instance')
if not instance then
  instance = ARGV[4]
  redis.call('SET', p .. 'instance', instance)
end
local out = {}
-- the sequence numbers of n new records, reserved at once: the k-th (1-based) is first + k
local function reserve(n)
  return redis.call('INCRBY', p .. 'seq', n) - n
end
-- one command over many members (ZADD key score member ..., SADD key member ...), 1000 at a time:
-- a call per record costs Redis more than the record itself
local function bulk(command, key, members, width)
  local step = 1000 * width
  for i = 1, #members, step do
    redis.call(command, key, unpack(members, i, math.min(i + step - 1, #members)))
  end
end
"""
ADD_INFERENCES = (
    _HELPERS
    + """
local first, ages, opened = reserve((#ARGV - 4) / 2), {}, {}
for i = 5, #ARGV, 2 do
  local rid, payload = ARGV[i], ARGV[i + 1]
  local ikey, fkey = p .. 'i:' .. rid, p .. 'f:' .. rid
  local current = redis.call('GET', ikey)
  local seq, same, feedback = nil, true, {}
  if current then
    local stored
    seq, stored = split(current)
    -- the stored event again (a replay) gets its pairs again; another event with this request id
    -- (a producer's retry) joins nothing: its pairs were counted with the first one
    same = event_of(stored) == event_of(payload)
    payload = stored
    if same then feedback = redis.call('HGETALL', fkey) end
  else
    seq = first + (i - 3) / 2
    redis.call('SET', ikey, seq .. ':' .. payload, 'PX', ttl)
    ages[#ages + 1], ages[#ages + 2] = now, rid
    feedback = redis.call('HGETALL', fkey)
    if #feedback == 0 then opened[#opened + 1] = rid end
    for j = 1, #feedback, 2 do
      redis.call('SREM', p .. 'open:f', string.len(rid) .. ':' .. rid .. feedback[j])
    end
  end
  local row = nil
  for j = 1, #feedback, 2 do
    local fseq, fpayload = split(feedback[j + 1])
    if fseq < seq then
      row = row or {rid, payload}
      table.insert(row, feedback[j])
      table.insert(row, fpayload)
    end
  end
  if row then table.insert(out, row) end
end
bulk('ZADD', p .. 'age:i', ages, 2)
bulk('SADD', p .. 'open:i', opened, 1)
return {instance, out}
"""
)
ADD_FEEDBACK = (
    _HELPERS
    + """
-- ARGV[5]: the feedback records one request holds at most; a new feedback id past it is refused,
-- counted by the request's hash itself (HLEN), so the count goes with its records
local most, refused = tonumber(ARGV[5]), {}
local first, ages, matched, opened = reserve((#ARGV - 5) / 3), {}, {}, {}
for i = 6, #ARGV, 3 do
  local rid, fid, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local fkey, member = p .. 'f:' .. rid, string.len(rid) .. ':' .. rid .. fid
  -- a request's first feedback (the usual case) needs no HGET: its hash is empty
  local held = redis.call('HLEN', fkey)
  local current = held > 0 and redis.call('HGET', fkey, fid)
  local seq, same, inference = nil, true, nil
  if current then
    local stored
    seq, stored = split(current)
    -- the stored event again (a replay) gets its pair again; another event with this feedback id
    -- (a resend) joins nothing: its pair was counted with the first one
    same = event_of(stored) == event_of(payload)
    payload = stored
    inference = redis.call('GET', p .. 'i:' .. rid)
  elseif held >= most then
    refused[#refused + 1] = {rid, fid}
  else
    inference = redis.call('GET', p .. 'i:' .. rid)
    seq = first + (i - 3) / 3
    redis.call('HSET', fkey, fid, seq .. ':' .. payload)
    redis.call('PEXPIRE', fkey, ttl)
    ages[#ages + 1], ages[#ages + 2] = now, member
    if inference then matched[#matched + 1] = rid else opened[#opened + 1] = member end
  end
  if inference and same then
    local iseq, ipayload = split(inference)
    if iseq < seq then table.insert(out, {rid, ipayload, payload}) end
  end
end
bulk('ZADD', p .. 'age:f', ages, 2)
bulk('SREM', p .. 'open:i', matched, 1)
bulk('SADD', p .. 'open:f', opened, 1)
return {instance, out, refused}
"""
)
EXPIRE = (
    _HELPERS
    + """
-- for this script ARGV[2] is the cutoff time and ARGV[3] the chunk size
local cutoff, limit = '(' .. now, tonumber(ttl)
local rids = redis.call('ZRANGEBYSCORE', p .. 'age:i', '-inf', cutoff, 'LIMIT', 0, limit)
local expired_i, expired_f = 0, 0
for _, rid in ipairs(rids) do
  redis.call('DEL', p .. 'i:' .. rid)
  redis.call('ZREM', p .. 'age:i', rid)
  expired_i = expired_i + redis.call('SREM', p .. 'open:i', rid)
end
local members = redis.call('ZRANGEBYSCORE', p .. 'age:f', '-inf', cutoff, 'LIMIT', 0, limit)
for _, member in ipairs(members) do
  local c = string.find(member, ':', 1, true)
  local n = tonumber(string.sub(member, 1, c - 1))
  redis.call('HDEL', p .. 'f:' .. string.sub(member, c + 1, c + n), string.sub(member, c + n + 1))
  redis.call('ZREM', p .. 'age:f', member)
  expired_f = expired_f + redis.call('SREM', p .. 'open:f', member)
end
return {instance, expired_i, expired_f, #rids + #members}
"""
)


def script_commands() -> set[str]:
    """Every Redis command the scripts call (``redis.call`` or the ``bulk`` helper).

    >>> {"HLEN", "ZADD", "ZRANGEBYSCORE"} <= script_commands()
    True
    """
    found = re.compile(r"(?:redis\.call|bulk)\('([A-Z]+)'")
    return {
        name for script in (ADD_INFERENCES, ADD_FEEDBACK, EXPIRE) for name in found.findall(script)
    }
