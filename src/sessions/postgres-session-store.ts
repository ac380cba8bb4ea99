import type { Db } from '../clients/postgres';

export type SessionKind = 'USER' | 'VISITOR';

export interface SessionRecord {
  tokenHash: string;
  kind: SessionKind;
  userId: string | null;
  botId: string | null;
  visitorId: string | null;
  expiresAt: Date;
}

interface SessionRow {
  token_hash: string;
  kind: SessionKind;
  user_id: string | null;
  bot_id: string | null;
  visitor_id: string | null;
  expires_at: Date;
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;

/** Sessions in PostgreSQL: the store of the rollback mode (REDIS_ENABLED=false). */
export function createSessionsRepo(db: Db) {
  return {
    async create(session: SessionRecord): Promise<void> {
      await db<SessionRow>('sessions').insert({
        token_hash: session.tokenHash,
        kind: session.kind,
        user_id: session.userId,
        bot_id: session.botId,
        visitor_id: session.visitorId,
        expires_at: session.expiresAt,
      });
    },

    async findLive(tokenHash: string): Promise<SessionRecord | undefined> {
      const row = await db<SessionRow>('sessions')
        .where({ token_hash: tokenHash })
        .andWhere('expires_at', '>', db.fn.now())
        .first();
      return (
        row && {
          tokenHash: row.token_hash,
          kind: row.kind,
          userId: row.user_id,
          botId: row.bot_id,
          visitorId: row.visitor_id,
          expiresAt: row.expires_at,
        }
      );
    },

    async delete(tokenHash: string): Promise<boolean> {
      return (await db('sessions').where({ token_hash: tokenHash }).delete()) > 0;
    },

    async deleteExpired(): Promise<number> {
      return db('sessions').where('expires_at', '<=', db.fn.now()).delete();
    },
  };
}
