import { newId } from '../ids';
import type { SessionRecord, SessionsRepo } from '../repos/sessions';
import { hashToken, newSessionToken } from './tokens';

export type Viewer =
  | { kind: 'ANONYMOUS' }
  | { kind: 'USER'; userId: string; tokenHash: string }
  | { kind: 'VISITOR'; botId: string; visitorId: string; tokenHash: string };

export interface StartedSession {
  token: string;
  expiresAt: Date;
}

export type SessionService = ReturnType<typeof createSessionService>;

/** Issues and resolves bearer tokens; the store behind it is PostgreSQL in rollback mode. */
export function createSessionService(deps: { sessions: SessionsRepo; ttlSeconds: number }) {
  const start = async (session: Omit<SessionRecord, 'tokenHash' | 'expiresAt'>): Promise<StartedSession> => {
    const token = newSessionToken();
    const expiresAt = new Date(Date.now() + deps.ttlSeconds * 1000);
    await deps.sessions.create({ ...session, tokenHash: hashToken(token), expiresAt });
    return { token, expiresAt };
  };

  return {
    startUserSession: (userId: string) => start({ kind: 'USER', userId, botId: null, visitorId: null }),

    /** A visitor is anonymous: their identity is the session itself, bound to one bot. */
    startVisitorSession: (botId: string) => start({ kind: 'VISITOR', userId: null, botId, visitorId: newId() }),

    /** The viewer a token stands for, or undefined when it is unknown or expired. */
    async resolve(token: string): Promise<Exclude<Viewer, { kind: 'ANONYMOUS' }> | undefined> {
      const session = await deps.sessions.findLive(hashToken(token));
      if (!session) return undefined;
      if (session.kind === 'USER' && session.userId) {
        return { kind: 'USER', userId: session.userId, tokenHash: session.tokenHash };
      }
      if (session.kind === 'VISITOR' && session.botId && session.visitorId) {
        return { kind: 'VISITOR', botId: session.botId, visitorId: session.visitorId, tokenHash: session.tokenHash };
      }
      return undefined;
    },

    end: (tokenHash: string) => deps.sessions.delete(tokenHash),
  };
}
