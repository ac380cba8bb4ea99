import type { RedisClient } from '../platform/redis/connection';
import { fromCacheJson, toCacheJson } from '../platform/redis/json';
import type { CacheKeys } from '../platform/redis/keys';
import { OverloadedError } from '../core/errors';
import type { SessionRecord, SessionStore } from './session-store';

/**
 * Sessions in Redis: `session:{sha256(token)}` holds the session as JSON and expires with it;
 * `sessions:user:{userId}` lists a user's token hashes for logOutEverywhere. Every instance
 * reads the same key; the api holds what it read in memory (`withSessionMemory`), dropped on
 * every instance when a session ends (and while Redis is unreachable `withOutageGrace` may answer).
 */
/** How long a client should wait before retrying while Redis, and with it every session, is unreachable. */
const SESSIONS_RETRY_AFTER_SECONDS = 5;

/**
 * Redis holds the sessions, so while it is unreachable no token can be checked: that is a
 * retryable 503 for the client, not a 500 and not "your session expired".
 */
function unavailable(error: unknown): never {
  throw new OverloadedError(
    SESSIONS_RETRY_AFTER_SECONDS,
    `Sign-in is unavailable for a moment: try again in ${SESSIONS_RETRY_AFTER_SECONDS} s.`,
    { cause: error },
  );
}

export function createRedisSessionStore(deps: { redis: RedisClient; keys: CacheKeys }): SessionStore {
  const { redis, keys } = deps;
  const secondsUntil = (date: Date) => Math.max(1, Math.ceil((date.getTime() - Date.now()) / 1000));

  /** Deletes the sessions an index lists, and the index; resolves to the hashes that were live. */
  const deleteIndexed = async (index: string): Promise<string[]> => {
    const hashes = await redis.smembers(index).catch(unavailable);
    if (hashes.length === 0) return [];
    // One key a command: each session key has its own hash tag (cluster slot).
    const results = await Promise.all(hashes.map((hash) => redis.unlink(keys.session(hash))));
    await redis.unlink(index);
    return hashes.filter((_, i) => results[i] === 1);
  };

  return {
    // Redis cannot join a PostgreSQL transaction: a sign-up whose commit fails leaves a
    // session of a user that does not exist, which resolves to nobody and expires.
    async create(session: SessionRecord): Promise<void> {
      const ttlSeconds = secondsUntil(session.expiresAt);
      // Separate commands, not MULTI nor one pipeline: the session and its index have different
      // hash tags (cluster slots, maybe on different nodes); auto-pipelining batches them.
      const index = session.userId
        ? keys.sessionsByUser(session.userId)
        : session.botId
          ? keys.sessionsByBot(session.botId)
          : undefined;
      await Promise.all([
        redis.set(keys.session(session.tokenHash), toCacheJson(session), 'EX', ttlSeconds),
        // The index lives as long as its newest session (GT lengthens, NX sets the first
        // expiry); hashes of ended sessions in it are harmless.
        ...(index
          ? [
              redis.sadd(index, session.tokenHash),
              redis.expire(index, ttlSeconds, 'GT'),
              redis.expire(index, ttlSeconds, 'NX'),
            ]
          : []),
      ]).catch(unavailable);
    },

    async findLive(tokenHash: string) {
      const text = await redis.get(keys.session(tokenHash)).catch(unavailable);
      if (text === null) return undefined;
      const session = fromCacheJson<SessionRecord>(text);
      return session.expiresAt.getTime() > Date.now() ? session : undefined;
    },

    async delete(tokenHash: string): Promise<boolean> {
      return (await redis.unlink(keys.session(tokenHash)).catch(unavailable)) > 0;
    },

    deleteAllForUser: (userId: string) => deleteIndexed(keys.sessionsByUser(userId)),

    deleteAllForBot: (botId: string) => deleteIndexed(keys.sessionsByBot(botId)),
  };
}
