import type { TestApp } from './test-app';

/**
 * Sessions as the app's store keeps them, behind the app's back: the PostgreSQL row, or the
 * Redis key, so one test checks either mode.
 */
export function sessionBackdoor(app: TestApp) {
  const redis = app.deps.clients.redis;
  const key = (tokenHash: string) => `${app.config.redis.keyPrefix}session:{${tokenHash}}`;
  /** Drops the session from every api's memory (src/sessions/session-memory.ts), as an ended session is. */
  const forgetHeld = async (tokenHash: string) => {
    await app.deps.cache?.entities.announce([key(tokenHash)]);
  };
  return {
    /** What is stored for the session, as text, or undefined. */
    async stored(tokenHash: string): Promise<Record<string, unknown> | undefined> {
      if (redis) {
        const text = await redis.get(key(tokenHash));
        return text === null ? undefined : (JSON.parse(text) as Record<string, unknown>);
      }
      return app.deps.db('sessions').where({ token_hash: tokenHash }).first();
    },

    /** Deletes it, as a log-out on another api instance would (which tells every instance). */
    async remove(tokenHash: string): Promise<void> {
      if (redis) {
        await redis.unlink(key(tokenHash));
        await forgetHeld(tokenHash);
      } else await app.deps.db('sessions').where({ token_hash: tokenHash }).delete();
    },

    /** Moves its expiry into the past (Redis would drop the key itself a little later). */
    async expire(tokenHash: string): Promise<void> {
      const past = new Date(Date.now() - 1000);
      if (redis) {
        const text = await redis.get(key(tokenHash));
        if (text === null) return;
        const session = JSON.parse(text) as Record<string, unknown>;
        await redis.set(
          key(tokenHash),
          JSON.stringify({ ...session, expiresAt: { $date: past.toISOString() } }),
          'KEEPTTL',
        );
        // The api's memory holds the session with its real expiry, which this moves only in
        // Redis: the memory's copy is dropped, so the api reads the record as rewritten.
        await forgetHeld(tokenHash);
      } else {
        await app.deps.db('sessions').where({ token_hash: tokenHash }).update({ expires_at: past });
      }
    },
  };
}
