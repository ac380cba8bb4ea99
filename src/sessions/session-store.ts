import type { Executor } from '../platform/postgres/connection';
import type { Plan } from '../repos/records';

export type SessionKind = 'USER' | 'VISITOR';

export interface SessionRecord {
  tokenHash: string;
  kind: SessionKind;
  userId: string | null;
  botId: string | null;
  visitorId: string | null;
  expiresAt: Date;
  /** A user's plan when the session started (the limits read it); null for visitors. */
  plan: Plan | null;
}

/** A live session as resolved for a request. */
export type LiveSession = SessionRecord;

/**
 * Where sessions live: PostgreSQL in rollback mode, Redis next. Services talk to this,
 * never to a store, so which one runs is a wiring choice.
 */
export interface SessionStore {
  /**
   * Stores a new session. `executor` is the transaction of a larger write (sign-up) for a
   * store that can take part in it; a store that cannot ignores it.
   */
  create(session: SessionRecord, executor?: Executor): Promise<void>;
  /** The session if it exists and has not expired. */
  findLive(tokenHash: string): Promise<LiveSession | undefined>;
  delete(tokenHash: string): Promise<boolean>;
  /** Ends every session of a user; resolves to the token hashes that were live. */
  deleteAllForUser(userId: string): Promise<string[]>;
  /** Ends every widget session of a bot (it is being deleted); resolves to the token hashes that were live. */
  deleteAllForBot(botId: string): Promise<string[]>;
}
