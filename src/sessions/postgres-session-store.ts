import type { Db, Executor } from '../platform/postgres/connection';
import type { Plan } from '../repos/records';
import type { LiveSession, SessionKind, SessionRecord, SessionStore } from './session-store';

interface SessionRow {
  token_hash: string;
  kind: SessionKind;
  user_id: string | null;
  bot_id: string | null;
  visitor_id: string | null;
  expires_at: Date;
}

export type PostgresSessionStore = ReturnType<typeof createPostgresSessionStore>;

/** Sessions in PostgreSQL: the store of the rollback mode (REDIS_ENABLED=false). */
export function createPostgresSessionStore(db: Db) {
  /** Deletes the matching sessions, expired ones too; resolves to the hashes of the live ones. */
  const deleteWhere = async (match: Partial<SessionRow>): Promise<string[]> => {
    const rows: { token_hash: string; expires_at: Date }[] = await db('sessions')
      .where(match)
      .delete()
      .returning(['token_hash', 'expires_at']);
    return rows.filter((row) => row.expires_at.getTime() > Date.now()).map((row) => row.token_hash);
  };

  const store = {
    async create(session: SessionRecord, executor: Executor = db): Promise<void> {
      await executor<SessionRow>('sessions').insert({
        token_hash: session.tokenHash,
        kind: session.kind,
        user_id: session.userId,
        bot_id: session.botId,
        visitor_id: session.visitorId,
        expires_at: session.expiresAt,
      });
    },

    async findLive(tokenHash: string): Promise<LiveSession | undefined> {
      // The plan is read with the session (not the one stored at start), so a change of plan
      // applies from the next request.
      const row: (SessionRow & { plan: Plan | null }) | undefined = await db('sessions')
        .leftJoin('users', 'users.id', 'sessions.user_id')
        .where({ 'sessions.token_hash': tokenHash })
        .andWhere('sessions.expires_at', '>', db.fn.now())
        .first('sessions.*', 'users.plan');
      return (
        row && {
          tokenHash: row.token_hash,
          kind: row.kind,
          userId: row.user_id,
          botId: row.bot_id,
          visitorId: row.visitor_id,
          expiresAt: row.expires_at,
          plan: row.plan,
        }
      );
    },

    async delete(tokenHash: string): Promise<boolean> {
      return (await db('sessions').where({ token_hash: tokenHash }).delete()) > 0;
    },

    deleteAllForUser: (userId: string) => deleteWhere({ user_id: userId }),

    deleteAllForBot: (botId: string) => deleteWhere({ bot_id: botId }),

    /** Only the PostgreSQL store needs sweeping: Redis expires keys by itself. */
    async deleteExpired(): Promise<number> {
      return db('sessions').where('expires_at', '<=', db.fn.now()).delete();
    },
  } satisfies SessionStore & Record<string, unknown>;
  return store;
}
