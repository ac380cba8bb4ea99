import { LRUCache } from 'lru-cache';
import { OverloadedError } from '../core/errors';
import type { LiveSession, SessionStore } from './session-store';

/**
 * Bytes the remembered sessions may take at most: far more than the 10,000 entries need (a
 * session is ids, an enum and a date), a bound in bytes too should a session ever grow.
 */
const MAX_BYTES = 16 * 1024 * 1024;
/** A session's fixed-size fields (kind, plan, expiry) and the entry itself. */
const FIXED_BYTES = 128;

/** An estimate of one entry's bytes, cheap enough for every request (no JSON). */
const entryBytes = ({ session }: Confirmed, tokenHash: string) =>
  tokenHash.length +
  (session.userId?.length ?? 0) +
  (session.botId?.length ?? 0) +
  (session.visitorId?.length ?? 0) +
  FIXED_BYTES;

interface Confirmed {
  session: LiveSession;
  /** When the store last answered that this session is live. */
  confirmedAt: number;
}

/**
 * Keeps signed-in clients working through a short outage of the session store (Redis): a
 * session this instance confirmed live within the last `graceMillis` is honoured while the
 * store cannot answer (and only then: whenever the store answers, its answer wins). Without
 * it, every signed-in request fails while Redis is down, although PostgreSQL could serve
 * reads and the write path could store sends directly.
 *
 * The price is bounded: a session ended on another instance shortly before the outage may
 * still be honoured here for what is left of the grace period. Sessions ended on this
 * instance are forgotten at once. `graceMillis` 0 turns this off.
 */
export function withOutageGrace(
  store: SessionStore,
  options: { graceMillis: number; maxEntries?: number; now?: () => number },
): SessionStore {
  if (options.graceMillis === 0) return store;
  const now = options.now ?? Date.now;
  const confirmed = new LRUCache<string, Confirmed>({
    max: options.maxEntries ?? 10_000,
    maxSize: MAX_BYTES,
    sizeCalculation: entryBytes,
  });
  const forgetWhere = (matches: (session: LiveSession) => boolean) => {
    for (const [tokenHash, entry] of confirmed.entries()) if (matches(entry.session)) confirmed.delete(tokenHash);
  };
  return {
    async create(session, executor) {
      await store.create(session, executor);
      confirmed.set(session.tokenHash, { session, confirmedAt: now() });
    },

    async findLive(tokenHash) {
      try {
        const session = await store.findLive(tokenHash);
        if (session) confirmed.set(tokenHash, { session, confirmedAt: now() });
        else confirmed.delete(tokenHash);
        return session;
      } catch (error: unknown) {
        if (!(error instanceof OverloadedError)) throw error;
        const entry = confirmed.get(tokenHash);
        const at = now();
        if (entry && at - entry.confirmedAt <= options.graceMillis && entry.session.expiresAt.getTime() > at) {
          return entry.session;
        }
        throw error;
      }
    },

    async delete(tokenHash) {
      confirmed.delete(tokenHash);
      return store.delete(tokenHash);
    },

    async deleteAllForUser(userId) {
      forgetWhere((session) => session.userId === userId);
      return store.deleteAllForUser(userId);
    },

    async deleteAllForBot(botId) {
      forgetWhere((session) => session.botId === botId);
      return store.deleteAllForBot(botId);
    },
  };
}
