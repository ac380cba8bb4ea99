import type { Redis } from 'ioredis';

/**
 * The write buffer's Lua scripts. Each opens with a header naming its KEYS, ARGV and return
 * value; each is one atomic step of an intent's life (pushed, claimed, acknowledged,
 * retried, dead-lettered, returned, replayed, dropped), so no crash between two Redis calls
 * can lose or duplicate one. All keys share the `{buffer}` hash tag (see keys.ts).
 *
 * `allowOom`: whether the script runs while Redis is at `maxmemory` (noeviction). Without
 * it Redis refuses a script whose first write is a command that may grow memory (ZADD,
 * LMOVE, LPUSH, HSET…), even when the script as a whole only moves or deletes: a full Redis
 * then refused the claim, and acknowledged sends stayed queued until someone freed memory.
 * The scripts that drain the buffer (claim, renew, acknowledge, requeue, return) and the one
 * that only deletes (drop) are flagged; each keeps memory level or shrinks it (their only
 * growth is a worker's lease entry and the stats hash's per-second fields, which the
 * acknowledgement trims to a minute). The push is not: a full Redis must refuse new sends,
 * which then go to PostgreSQL directly (buffered-write-path.ts). Dead-letter and replay grow
 * memory by one entry and are not flagged; as their first write deletes, Redis still lets
 * them run, so a poison intent does not block a full buffer.
 */
interface ScriptDefinition {
  /** The number of KEYS; null when the caller passes it first (a variable number). */
  keys: number | null;
  allowOom: boolean;
  lua: string;
}

/**
 * Redis 7's shebang: the script declares its flags, and every key it touches must come in
 * KEYS (ours all do). It must be the source's first line.
 */
const ALLOW_OOM_SHEBANG = '#!lua flags=allow-oom';

/** The source sent to Redis: the script, behind the shebang when it is flagged. */
const scriptSource = (script: Pick<ScriptDefinition, 'allowOom' | 'lua'>): string =>
  script.allowOom ? `${ALLOW_OOM_SHEBANG}\n${script.lua.trimStart()}` : script.lua;

const SCRIPTS = {
  bufferPush: {
    keys: 4,
    allowOom: false,
    lua: `
-- buffer-push: acknowledges a chat exchange by queueing its intent, unless the sender's
-- idempotency key already names an earlier send, or the buffer is full.
-- KEYS[1] pending list            KEYS[2] queued index (message id -> conversation id)
-- KEYS[3] the conversation's intents (hash)   KEYS[4] idempotency key (unused when ARGV[6] is '0')
-- ARGV[1] intent JSON             ARGV[2] intent id (its user message id)   ARGV[3] reply id
-- ARGV[4] conversation id         ARGV[5] most intents the pending list may hold
-- ARGV[6] '1' when the send has an idempotency key   ARGV[7] its TTL in s
-- ARGV[8] TTL of the conversation hash in s
-- ARGV[9] status channel   ARGV[10], ARGV[11] the two QUEUED events: published here, so they
--         reach subscribers before any PERSISTED a worker publishes after its flush
-- returns { 'QUEUED', depth after } | { 'DUPLICATE', the first send's intent JSON } | { 'FULL', depth }
if ARGV[6] == '1' then
  local first = redis.call('GET', KEYS[4])
  if first then return { 'DUPLICATE', first } end
end
local depth = redis.call('LLEN', KEYS[1])
if depth >= tonumber(ARGV[5]) then return { 'FULL', depth } end
if ARGV[6] == '1' then redis.call('SET', KEYS[4], ARGV[1], 'EX', tonumber(ARGV[7])) end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
redis.call('PUBLISH', ARGV[9], ARGV[10])
redis.call('PUBLISH', ARGV[9], ARGV[11])
return { 'QUEUED', depth + 1 }
`,
  },
  bufferClaim: {
    keys: 3,
    allowOom: true,
    lua: `
-- buffer-claim: (re)sets a worker's lease, then moves intents from the pending list into its
-- claim list until it holds ARGV[1]: a worker that dies holding them leaves them where the
-- reaper finds them once the lease runs out.
-- KEYS[1] pending list   KEYS[2] claim list   KEYS[3] claims (sorted set: claim id -> lease deadline, ms)
-- ARGV[1] most intents to hold   ARGV[2] lease in ms   ARGV[3] claim id
-- returns every intent in the claim list
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
for i = redis.call('LLEN', KEYS[2]) + 1, tonumber(ARGV[1]) do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') then break end
end
return redis.call('LRANGE', KEYS[2], 0, -1)
`,
  },
  bufferRenew: {
    keys: 1,
    allowOom: true,
    lua: `
-- buffer-renew: extends a live lease; a lease the reaper already took back stays gone.
-- KEYS[1] claims (sorted set)   ARGV[1] claim id   ARGV[2] lease in ms
-- returns 1 when renewed, 0 when the claim is no longer registered
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`,
  },
  bufferAck: {
    keys: null,
    allowOom: true,
    lua: `
-- buffer-ack: forgets intents that are in PostgreSQL now (or were dropped for good), after COMMIT.
-- KEYS[1] claim list   KEYS[2] queued index   KEYS[3] stats hash
-- KEYS[3 + i] the conversation hash of intent i
-- ARGV[1] the wait of the oldest intent, ms (the flush lag)
-- ARGV[2 + 3(i-1)], ARGV[3 + 3(i-1)], ARGV[4 + 3(i-1)]: intent i's claimed JSON, its id, its reply id
-- returns how many of them were still in the claim list
local removed = 0
local count = #KEYS - 3
for i = 1, count do
  local at = 2 + (i - 1) * 3
  removed = removed + redis.call('LREM', KEYS[1], 1, ARGV[at])
  redis.call('HDEL', KEYS[2], ARGV[at + 1], ARGV[at + 2])
  redis.call('HDEL', KEYS[3 + i], ARGV[at + 1])
end
local second = tonumber(redis.call('TIME')[1])
redis.call('HINCRBY', KEYS[3], 'flushed', count)
redis.call('HINCRBY', KEYS[3], 's:' .. second, count)
redis.call('HSET', KEYS[3], 'lagMillis', ARGV[1], 'lastFlushAt', second)
-- per-second counts serve the flush rate of the last minute; older ones go (a few dozen fields)
for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
  if string.sub(field, 1, 2) == 's:' and tonumber(string.sub(field, 3)) < second - 60 then
    redis.call('HDEL', KEYS[3], field)
  end
end
return removed
`,
  },
  bufferRequeue: {
    keys: 2,
    allowOom: true,
    lua: `
-- buffer-requeue: after a failed attempt, puts an intent back at the far end of the pending
-- list with its attempt count raised, unless the reaper already returned it.
-- KEYS[1] claim list   KEYS[2] pending list
-- ARGV[1] the claimed JSON   ARGV[2] the same intent with attempts + 1
-- returns 1 when requeued, 0 when it was no longer claimed
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
`,
  },
  bufferDeadLetter: {
    keys: 5,
    allowOom: false,
    lua: `
-- buffer-dead-letter: moves an intent that will not go into PostgreSQL to the dead letters,
-- marks its messages FAILED and frees its idempotency key (a retry is a new send).
-- KEYS[1] claim list   KEYS[2] dead letters (hash)   KEYS[3] queued index   KEYS[4] failed index
-- KEYS[5] idempotency key (unused when ARGV[6] is '0')
-- ARGV[1] the claimed JSON   ARGV[2] dead-letter id   ARGV[3] dead-letter entry JSON
-- ARGV[4] user message id ('' when unreadable)   ARGV[5] reply id   ARGV[6] '1' when the send had a key
-- ARGV[7] failed-index value JSON
-- returns 1 when dead-lettered, 0 when it was no longer claimed
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HDEL', KEYS[3], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[7], ARGV[5], ARGV[7])
end
if ARGV[6] == '1' then redis.call('DEL', KEYS[5]) end
return 1
`,
  },
  bufferReturn: {
    keys: 3,
    allowOom: true,
    lua: `
-- buffer-return: gives a claim's intents back to the pending list (next in line) and
-- unregisters it: the reaper's step for an expired lease, and a stopping worker's own.
-- KEYS[1] claims (sorted set)   KEYS[2] claim list   KEYS[3] pending list
-- ARGV[1] claim id   ARGV[2] '1' to return only if the lease has run out
-- returns how many intents went back, or -1 when the lease is still live
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[2] == '1' and deadline then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if tonumber(deadline) > now then return -1 end
end
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do moved = moved + 1 end
redis.call('ZREM', KEYS[1], ARGV[1])
return moved
`,
  },
  bufferReplay: {
    keys: 5,
    allowOom: false,
    lua: `
-- buffer-replay: an operator sends a dead letter through the buffer again.
-- KEYS[1] dead letters   KEYS[2] pending list   KEYS[3] queued index   KEYS[4] failed index
-- KEYS[5] the conversation's intents
-- ARGV[1] intent id   ARGV[2] intent JSON with attempts at 0   ARGV[3] reply id   ARGV[4] conversation id
-- ARGV[5] TTL of the conversation hash in s
-- returns 1 when replayed, 0 when there was no such dead letter
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4], ARGV[3], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[5], tonumber(ARGV[5]))
return 1
`,
  },
  bufferDrop: {
    keys: 3,
    allowOom: true,
    lua: `
-- buffer-drop: an operator discards a dead letter for good; its messages become unknown.
-- KEYS[1] dead letters   KEYS[2] failed index   KEYS[3] the conversation's intents
-- ARGV[1] dead-letter id   ARGV[2] user message id ('' when unreadable)   ARGV[3] reply id
-- returns 1 when dropped, 0 when there was no such dead letter
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' then
  redis.call('HDEL', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return 1
`,
  },
  bufferStats: {
    keys: 4,
    allowOom: false,
    lua: `
-- buffer-stats: one consistent reading of the buffer. Separate reads could count an intent
-- that moved between them in neither place (a claim given back to the pending list after
-- the list was read, and gone from the claims before they were), so a drained-looking
-- buffer still held it. Reads only: it runs while Redis is full.
-- KEYS[1] pending list   KEYS[2] claims (claim id -> lease deadline)   KEYS[3] dead letters
-- KEYS[4] flush stats
-- ARGV[1] the claim lists' key prefix (the claim id follows it): which claim lists exist is
--         what this reads, so they cannot come in KEYS; they share the {buffer} slot
-- returns { pending depth, oldest pending intent JSON or nil, dead letters, the stats hash
--           as a flat list, { intents held per claim }, { each claim's oldest intent JSON } }
local held, oldest = {}, {}
for i, claimId in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local claim = ARGV[1] .. claimId
  held[i] = redis.call('LLEN', claim)
  -- a claim list fills from its left end: its right end is the oldest intent it took
  oldest[i] = redis.call('LINDEX', claim, -1)
end
return { redis.call('LLEN', KEYS[1]), redis.call('LINDEX', KEYS[1], -1), redis.call('HLEN', KEYS[3]),
  redis.call('HGETALL', KEYS[4]), held, oldest }
`,
  },
} as const satisfies Record<string, ScriptDefinition>;

type Arg = string | number;
export type BufferScripts = {
  [Name in keyof typeof SCRIPTS]: (...args: Arg[]) => Promise<unknown>;
};

/**
 * Registers the scripts on `redis` (once per connection) and returns callers. A script with
 * a variable number of keys (`keys: null`) takes that number as its first argument.
 */
export function defineBufferScripts(redis: Redis): BufferScripts {
  const commands = redis as unknown as Record<string, (...args: Arg[]) => Promise<unknown>>;
  for (const [name, script] of Object.entries(SCRIPTS)) {
    if (commands[name]) continue;
    // ioredis sends EVALSHA (EVAL once Redis does not know the script): the flags travel in the source.
    redis.defineCommand(name, {
      lua: scriptSource(script),
      ...(script.keys === null ? {} : { numberOfKeys: script.keys }),
    });
  }
  return Object.fromEntries(
    Object.keys(SCRIPTS).map((name) => [name, (...args: Arg[]) => commands[name]!(...args)]),
  ) as BufferScripts;
}
