/**
 * Every Redis key Parley uses, built here and nowhere else, so the deployment prefix
 * (`REDIS_KEY_PREFIX`) is never forgotten and tests or deployments can share one Redis.
 *
 * The id inside `{…}` is a Redis Cluster hash tag: an entity's value key and its
 * generation key (see `generation`) share a slot, so one script may touch both.
 */
export type CacheKeys = ReturnType<typeof createCacheKeys>;

/** The key families whose hits and misses are counted. */
export const KEY_FAMILIES = [
  'bot',
  'botsByUser',
  'source',
  'sourcesByBot',
  'user',
  'conversation',
  'session',
  'vector',
] as const;
export type KeyFamily = (typeof KEY_FAMILIES)[number];

export function createCacheKeys(prefix: string) {
  return {
    prefix,
    bot: (botId: string) => `${prefix}bot:{${botId}}`,
    botsByUser: (userId: string) => `${prefix}bots:user:{${userId}}`,
    source: (sourceId: string) => `${prefix}source:{${sourceId}}`,
    sourcesByBot: (botId: string) => `${prefix}sources:bot:{${botId}}`,
    user: (userId: string) => `${prefix}user:{${userId}}`,
    conversation: (conversationId: string) => `${prefix}conversation:{${conversationId}}`,
    session: (tokenHash: string) => `${prefix}session:{${tokenHash}}`,
    /** A user's session token hashes, for ending them all (logOutEverywhere). */
    sessionsByUser: (userId: string) => `${prefix}sessions:user:{${userId}}`,
    /** A bot's widget session token hashes, for ending them when the bot is deleted. */
    sessionsByBot: (botId: string) => `${prefix}sessions:bot:{${botId}}`,
    /**
     * Names a bot's chunks in invalidations (no value is stored under it): every instance's
     * in-process chunk memory drops the bot when it hears this key (src/search/chunk-memory.ts).
     */
    botChunks: (botId: string) => `${prefix}chunks:bot:{${botId}}`,
    /**
     * A random number, replaced on every change to a bot's sources: part of its vector keys, so
     * old results are never read (see vector-cache.ts for why random, not a counter).
     */
    vectorVersion: (botId: string) => `${prefix}vector-version:{${botId}}`,
    vector: (botId: string, version: number, queryHash: string) => `${prefix}vector:{${botId}}:${version}:${queryHash}`,
    /** Bytes of search results the bot stored in the current window (VECTOR_CACHE_BOT_BUDGET_BYTES). */
    vectorBudget: (botId: string) => `${prefix}vector-budget:{${botId}}`,
    /** Searches counted per (bot, normalised query, limit), one sorted set per deployment: what the worker warms. */
    vectorPopular: () => `${prefix}vector-popular`,
    /**
     * Bumped by every invalidation of `key`: a loader that read the database before the bump
     * must not write its (now stale) value back. Same hash tag as `key`.
     */
    generation: (key: string) => `${key}:gen`,
    /**
     * One shard of the chat write buffer (see src/buffer/), by its hash tag (src/buffer/shards.ts):
     * its scripts move intents between lists and indexes atomically, which in a Redis Cluster
     * needs one slot, so every key of a shard carries its tag. One shard is one slot, on one
     * master; BUFFER_SHARDS spreads the buffer over several.
     */
    bufferShard: (tag: string) => ({
      /** Acknowledged intents waiting for a worker; pushed on the left, claimed from the right. */
      pending: () => `${prefix}buffer:{${tag}}:pending`,
      /** Claim id -> lease deadline (epoch ms): claims the reaper returns once their worker is gone. */
      claims: () => `${prefix}buffer:{${tag}}:claims`,
      /** The intents one worker claimed and has not yet acknowledged. */
      claim: (claimId: string) => `${prefix}buffer:{${tag}}:claim:${claimId}`,
      /** Message id -> conversation id, for every message still queued. */
      queued: () => `${prefix}buffer:{${tag}}:queued`,
      /** Message id -> { conversationId, error } for the messages of dead-lettered intents. */
      failed: () => `${prefix}buffer:{${tag}}:failed`,
      /** Intent id -> { intent, error, failedAt }: what an operator inspects and replays. */
      dead: () => `${prefix}buffer:{${tag}}:dead`,
      /** Intent id -> intent, for one conversation's queued and failed intents (read-your-writes). */
      conversation: (conversationId: string) => `${prefix}buffer:{${tag}}:conversation:${conversationId}`,
      /** The first answer to a send with this idempotency key (a hash of bot, sender and clientMessageId). */
      idempotency: (hash: string) => `${prefix}buffer:{${tag}}:idempotency:${hash}`,
      /** Flush counters: totals, the last lag, and intents flushed per second (`s:<epoch second>`). */
      stats: () => `${prefix}buffer:{${tag}}:stats`,
    }),
    /** How many shards the buffer's intents were written for: a process started with another count must not strand them. */
    bufferLayout: () => `${prefix}buffer:layout`,
    /** One rate-limit counter (a sorted set of admission times), e.g. `rate-limit:{user:<id>}`. */
    rateLimit: (policy: string, subject: string) => `${prefix}rate-limit:{${policy}:${subject}}`,
    /** One hash of hit/miss counters (`family:layer:hits|misses`) that every instance adds to. */
    cacheStats: () => `${prefix}stats:cache`,
    /**
     * Every cache key of this deployment: what `make cache-flush` deletes. Never sessions or
     * the write buffer's keys. Vector versions may go: a version is random, so one created
     * again never makes a result stored under an old one reachable.
     */
    cachePatterns: () =>
      [
        'bot:*',
        'bots:user:*',
        'source:*',
        'sources:bot:*',
        'chunks:bot:*',
        'user:*',
        'conversation:*',
        'vector:*',
        'vector-version:*',
        'vector-budget:*',
      ].map((pattern) => `${prefix}${pattern}`),
  };
}
