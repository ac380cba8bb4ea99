import { OverloadedError } from '../../src/core/errors';
import { withOutageGrace } from '../../src/sessions/outage-grace';
import type { SessionRecord, SessionStore } from '../../src/sessions/session-store';

const GRACE_MILLIS = 60_000;

/** An in-memory store that can be made unreachable, as the Redis store is while Redis is down. */
function fakeStore() {
  const sessions = new Map<string, SessionRecord>();
  let down = false;
  const reachable = () => {
    if (down) throw new OverloadedError(5);
  };
  const store: SessionStore = {
    create: async (session) => {
      reachable();
      sessions.set(session.tokenHash, session);
    },
    findLive: async (tokenHash) => {
      reachable();
      return sessions.get(tokenHash);
    },
    delete: async (tokenHash) => {
      reachable();
      return sessions.delete(tokenHash);
    },
    deleteAllForUser: async (userId) => {
      reachable();
      const ended = [...sessions.values()].filter((s) => s.userId === userId).map((s) => s.tokenHash);
      for (const hash of ended) sessions.delete(hash);
      return ended;
    },
    deleteAllForBot: async () => [],
  };
  return { store, sessions, setDown: (value: boolean) => (down = value) };
}

const session = (tokenHash: string, userId: string, expiresAt = new Date(10 * 60_000)): SessionRecord => ({
  tokenHash,
  kind: 'USER',
  userId,
  botId: null,
  visitorId: null,
  expiresAt,
  plan: 'FREE',
});

describe('withOutageGrace', () => {
  let clock: number;
  let fake: ReturnType<typeof fakeStore>;
  let store: SessionStore;
  beforeEach(() => {
    clock = 0;
    fake = fakeStore();
    store = withOutageGrace(fake.store, { graceMillis: GRACE_MILLIS, now: () => clock });
  });

  it('honours a session confirmed within the grace period while the store is unreachable', async () => {
    await fake.store.create(session('a', 'u1'));
    expect(await store.findLive('a')).toMatchObject({ tokenHash: 'a' });
    fake.setDown(true);
    clock = GRACE_MILLIS;
    expect(await store.findLive('a')).toMatchObject({ tokenHash: 'a' });
  });

  it('refuses it once the grace period has passed since the last confirmation', async () => {
    await fake.store.create(session('a', 'u1'));
    await store.findLive('a');
    fake.setDown(true);
    clock = GRACE_MILLIS + 1;
    await expect(store.findLive('a')).rejects.toBeInstanceOf(OverloadedError);
  });

  it('refuses a session it never confirmed, or that has expired', async () => {
    await fake.store.create(session('never', 'u1'));
    await fake.store.create(session('short', 'u2', new Date(1000)));
    await store.findLive('short');
    fake.setDown(true);
    clock = 1000;
    await expect(store.findLive('never')).rejects.toBeInstanceOf(OverloadedError);
    await expect(store.findLive('short')).rejects.toBeInstanceOf(OverloadedError);
  });

  it('lets the reachable store decide: a session it no longer has is gone, also during a later outage', async () => {
    await fake.store.create(session('a', 'u1'));
    await store.findLive('a');
    fake.sessions.delete('a'); // ended on another instance
    expect(await store.findLive('a')).toBeUndefined();
    fake.setDown(true);
    await expect(store.findLive('a')).rejects.toBeInstanceOf(OverloadedError);
  });

  it('forgets sessions ended through it, one or all of a user', async () => {
    await store.create(session('one', 'u1'));
    await store.create(session('two', 'u2'));
    await store.create(session('three', 'u2'));
    await store.delete('one');
    await store.deleteAllForUser('u2');
    fake.setDown(true);
    for (const hash of ['one', 'two', 'three'])
      await expect(store.findLive(hash)).rejects.toBeInstanceOf(OverloadedError);
  });

  it('passes other errors through, and is the store itself with a grace of 0', async () => {
    const failing: SessionStore = { ...fake.store, findLive: async () => Promise.reject(new Error('bug')) };
    await expect(withOutageGrace(failing, { graceMillis: GRACE_MILLIS }).findLive('a')).rejects.toThrow('bug');
    expect(withOutageGrace(fake.store, { graceMillis: 0 })).toBe(fake.store);
  });
});
