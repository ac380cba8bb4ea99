/** What a reload needs to carry on the same conversation. */
export interface StoredSession {
  token: string;
  /** ISO date-time from the server. */
  expiresAt: string;
  botId: string;
  botName: string;
  conversationId?: string;
}

/** A token this close to its end is not worth using: the next request could outlive it. */
const EXPIRY_MARGIN_MILLIS = 60_000;

export const isFresh = (session: StoredSession, now = Date.now()): boolean =>
  Date.parse(session.expiresAt) - now > EXPIRY_MARGIN_MILLIS;

/**
 * sessionStorage, per tab and per public key, so two bots on one site keep two conversations.
 * Storage can be missing or refuse writes (blocked cookies, a full quota, sandboxed frames): then
 * the session lives as long as the page, which is all a reload loses.
 */
export function createSessionStore(publicKey: string) {
  const key = `parley-widget:${publicKey}`;
  let memory: StoredSession | undefined;

  const storage = (): Storage | undefined => {
    try {
      return window.sessionStorage;
    } catch {
      return undefined;
    }
  };

  return {
    load(): StoredSession | undefined {
      try {
        const text = storage()?.getItem(key);
        const value = text ? (JSON.parse(text) as Partial<StoredSession>) : undefined;
        if (value && typeof value.token === 'string' && typeof value.botId === 'string') {
          memory = value as StoredSession;
        }
      } catch {
        // Unreadable or not ours: start again.
      }
      return memory;
    },

    save(session: StoredSession): void {
      memory = session;
      try {
        storage()?.setItem(key, JSON.stringify(session));
      } catch {
        // Kept in memory only.
      }
    },

    clear(): void {
      memory = undefined;
      try {
        storage()?.removeItem(key);
      } catch {
        // Nothing stored to forget.
      }
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
