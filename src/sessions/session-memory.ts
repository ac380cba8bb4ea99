import { createCoherentMemory, type InvalidationFeed } from '../cache/coherent-memory';
import type { LiveSession, SessionStore } from './session-store';

/** Sessions held at most: a session is ids, an enum and a date (about 300 bytes). */
const MAX_ENTRIES = 20_000;

/** How this process hears of sessions ended elsewhere, and tells the others of its own. */
export interface SessionInvalidation extends InvalidationFeed {
  /** Tells every instance (this one included) that these keys changed; never rejects, retries until told. */
  announce(keys: string[]): Promise<void>;
}

/**
 * Live sessions held in process, so that a request's token is resolved without a round trip to
 * Redis: looked up once, then answered here until the session expires or is ended.
 *
 * Never honoured after its end is announced (coherent-memory.ts): ending a session (logOut,
 * logOutEverywhere, a bot's deletion) deletes it from the store, then announces its key to every
 * instance, which drops it; a look-up under way then is not kept; while the subscription is down,
 * every token goes to the store. An entry lives at most `maxAgeMillis` (and never past the
 * session's expiry): the bound on what an announcement that could not be published yet (its
 * Redis unreachable from the ending instance alone) can cost.
 */
export function withSessionMemory(
  store: SessionStore,
  options: {
    invalidation: SessionInvalidation;
    /** The key that names a session in invalidations (`CacheKeys.session`). */
    sessionKey(tokenHash: string): string;
    maxAgeMillis: number;
    now?: () => number;
  },
): SessionStore {
  const { invalidation, sessionKey } = options;
  const now = options.now ?? Date.now;
  const memory = createCoherentMemory<LiveSession>({
    feed: invalidation,
    keyOf: sessionKey,
    lru: { max: MAX_ENTRIES, ttl: options.maxAgeMillis, perf: { now } },
    load: (tokenHash) => store.findLive(tokenHash),
    ttlOf: (session) => Math.min(options.maxAgeMillis, session.expiresAt.getTime() - now()),
  });

  /** Every instance drops them (this one too: a look-up that began before the end is not kept). */
  const announce = async (tokenHashes: string[]) => {
    if (tokenHashes.length > 0) await invalidation.announce([...new Set(tokenHashes)].map(sessionKey));
  };
  /** Dropped here at once, so this instance stops honouring them while the store ends them; announced after. */
  const endAll = async (heldHashes: string[], ending: Promise<string[]>): Promise<string[]> => {
    heldHashes.forEach(memory.drop);
    const ended = await ending;
    await announce([...heldHashes, ...ended]);
    return ended;
  };

  return {
    create: (session, executor) => store.create(session, executor),

    async findLive(tokenHash) {
      if (!memory.listening()) return store.findLive(tokenHash);
      const session = await memory.get(tokenHash);
      // The LRU's clock may lag a session's expiry by its resolution: checked here too.
      return session && session.expiresAt.getTime() > now() ? session : undefined;
    },

    async delete(tokenHash) {
      memory.drop(tokenHash);
      const deleted = await store.delete(tokenHash);
      await announce([tokenHash]);
      return deleted;
    },

    deleteAllForUser: (userId) =>
      endAll(
        memory.idsWhere((session) => session.userId === userId),
        store.deleteAllForUser(userId),
      ),

    deleteAllForBot: (botId) =>
      endAll(
        memory.idsWhere((session) => session.botId === botId),
        store.deleteAllForBot(botId),
      ),
  };
}
