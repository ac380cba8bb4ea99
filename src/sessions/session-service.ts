import type { Executor } from '../platform/postgres/connection';
import { newId } from '../core/ids';
import type { Plan } from '../repos/records';
import type { SessionRecord, SessionStore } from './session-store';
import { hashToken, newSessionToken } from './tokens';

export type Viewer =
  | { kind: 'ANONYMOUS' }
  | { kind: 'USER'; userId: string; plan: Plan; tokenHash: string; expiresAt: Date }
  | { kind: 'VISITOR'; botId: string; visitorId: string; tokenHash: string; expiresAt: Date };

export type SignedInViewer = Exclude<Viewer, { kind: 'ANONYMOUS' }>;

export interface StartedSession {
  token: string;
  expiresAt: Date;
}

export type SessionService = ReturnType<typeof createSessionService>;

/** Issues and resolves bearer tokens; which store keeps them is the caller's choice. */
export function createSessionService(deps: { store: SessionStore; ttlSeconds: number }) {
  const endedListeners = new Set<(tokenHash: string) => void>();
  const endAll = async (deleting: Promise<string[]>): Promise<number> => {
    const ended = await deleting;
    for (const tokenHash of ended) for (const listener of endedListeners) listener(tokenHash);
    return ended.length;
  };

  const start = async (
    session: Omit<SessionRecord, 'tokenHash' | 'expiresAt'>,
    executor?: Executor,
  ): Promise<StartedSession> => {
    const token = newSessionToken();
    const expiresAt = new Date(Date.now() + deps.ttlSeconds * 1000);
    await deps.store.create({ ...session, tokenHash: hashToken(token), expiresAt }, executor);
    return { token, expiresAt };
  };

  return {
    /** @param executor the transaction of a sign-up, so the account and its first session commit together */
    startUserSession: (user: { id: string; plan: Plan }, executor?: Executor) =>
      start({ kind: 'USER', userId: user.id, botId: null, visitorId: null, plan: user.plan }, executor),

    /** A visitor is anonymous: their identity is the session itself, bound to one bot. */
    startVisitorSession: (botId: string) =>
      start({ kind: 'VISITOR', userId: null, botId, visitorId: newId(), plan: null }),

    /** The viewer a token stands for, or undefined when it is unknown or expired. */
    async resolve(token: string): Promise<SignedInViewer | undefined> {
      const session = await deps.store.findLive(hashToken(token));
      if (!session) return undefined;
      const { tokenHash, expiresAt } = session;
      if (session.kind === 'USER' && session.userId) {
        return { kind: 'USER', userId: session.userId, plan: session.plan ?? 'FREE', tokenHash, expiresAt };
      }
      if (session.kind === 'VISITOR' && session.botId && session.visitorId) {
        return { kind: 'VISITOR', botId: session.botId, visitorId: session.visitorId, tokenHash, expiresAt };
      }
      return undefined;
    },

    /** Whether the session of `tokenHash` is still live: an open subscription asks this to end with it. */
    async isLive(tokenHash: string): Promise<boolean> {
      return (await deps.store.findLive(tokenHash)) !== undefined;
    },

    /** Ends a session; listeners (open sockets of this process) hear of it at once. */
    async end(tokenHash: string): Promise<boolean> {
      const ended = await deps.store.delete(tokenHash);
      for (const listener of endedListeners) listener(tokenHash);
      return ended;
    },

    /** Ends every session of `userId` (logOutEverywhere); resolves to how many were live. */
    endAllForUser: (userId: string) => endAll(deps.store.deleteAllForUser(userId)),

    /** Ends the widget sessions of a bot that is being deleted; resolves to how many were live. */
    endAllForBot: (botId: string) => endAll(deps.store.deleteAllForBot(botId)),

    /** Calls `listener` with the token hash of every session ended in this process; returns the unsubscribe. */
    onEnded(listener: (tokenHash: string) => void): () => void {
      endedListeners.add(listener);
      return () => endedListeners.delete(listener);
    },
  };
}
