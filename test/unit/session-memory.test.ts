import type { InvalidationWatcher } from '../../src/cache/entity-cache';
import { withSessionMemory } from '../../src/sessions/session-memory';
import type { LiveSession, SessionStore } from '../../src/sessions/session-store';

const keyOf = (tokenHash: string) => `test:session:{${tokenHash}}`;
const NOW = 1_700_000_000_000;

const session = (tokenHash: string, expiresInMillis = 3_600_000): LiveSession => ({
  tokenHash,
  kind: 'USER',
  userId: 'user-1',
  botId: null,
  visitorId: null,
  plan: 'FREE',
  expiresAt: new Date(NOW + expiresInMillis),
});

/** A store whose look-ups the test settles, an invalidation channel it drives: counted, not timed. */
function harness() {
  const watchers: InvalidationWatcher[] = [];
  let listening = true;
  const announced: string[][] = [];
  const live = new Map<string, LiveSession>();
  const pending: (() => void)[] = [];
  let lookups = 0;
  const store: SessionStore = {
    create: async (s) => void live.set(s.tokenHash, s),
    findLive: (tokenHash) => {
      lookups++;
      return new Promise((resolve) => pending.push(() => resolve(live.get(tokenHash))));
    },
    delete: async (tokenHash) => live.delete(tokenHash),
    deleteAllForUser: async (userId) => {
      const hashes = [...live.values()].filter((s) => s.userId === userId).map((s) => s.tokenHash);
      hashes.forEach((tokenHash) => live.delete(tokenHash));
      return hashes;
    },
    deleteAllForBot: async () => [],
  };
  const hear = (dropped: readonly string[] | 'all') => watchers.forEach((watcher) => watcher(dropped));
  const memory = withSessionMemory(store, {
    invalidation: {
      listening: () => listening,
      watch: (watcher) => void watchers.push(watcher),
      // As the entity cache does: every instance hears it, this one included.
      announce: async (keys) => {
        announced.push(keys);
        hear(keys);
      },
    },
    sessionKey: keyOf,
    maxAgeMillis: 60_000,
    now: () => NOW,
  });
  return {
    memory,
    live,
    announced,
    hear,
    lookups: () => lookups,
    settle: () => pending.splice(0).forEach((resolve) => resolve()),
    async find(tokenHash: string) {
      const found = memory.findLive(tokenHash);
      pending.splice(0).forEach((resolve) => resolve());
      return found;
    },
    setListening: (value: boolean) => (listening = value),
  };
}

describe('sessions in memory (ended everywhere by announcements)', () => {
  it('asks the store once for any number of requests with one token', async () => {
    const h = harness();
    h.live.set('a', session('a'));
    const first = Array.from({ length: 5 }, () => h.memory.findLive('a'));
    h.settle();
    expect(await Promise.all(first)).toEqual(Array(5).fill(session('a')));
    expect(await h.find('a')).toEqual(session('a'));
    expect(h.lookups()).toBe(1);
  });

  it('does not keep a look-up during which the session’s end was heard', async () => {
    const h = harness();
    h.live.set('a', session('a'));
    const during = h.memory.findLive('a');
    h.hear([keyOf('a')]);
    h.settle();
    expect(await during).toEqual(session('a'));
    await h.find('a');
    expect(h.lookups()).toBe(2);
  });

  it('announces an end it made, after the store has ended the session, and forgets it', async () => {
    const h = harness();
    h.live.set('a', session('a'));
    h.live.set('b', session('b'));
    await h.find('a');
    await h.find('b');
    expect(await h.memory.delete('a')).toBe(true);
    expect(h.announced).toEqual([[keyOf('a')]]);
    expect(await h.find('a')).toBeUndefined();
    expect(await h.memory.deleteAllForUser('user-1')).toEqual(['b']);
    expect(h.announced.at(-1)).toEqual([keyOf('b')]);
    expect(await h.find('b')).toBeUndefined();
  });

  it('drops everything when announcements may be missed, and asks the store while they cannot arrive', async () => {
    const h = harness();
    h.live.set('a', session('a'));
    await h.find('a');
    h.setListening(false);
    h.hear('all');
    await h.find('a');
    await h.find('a');
    expect(h.lookups()).toBe(3);
    h.setListening(true);
    await h.find('a');
    await h.find('a');
    expect(h.lookups()).toBe(4);
  });

  it('never answers an expired session from memory', async () => {
    const h = harness();
    h.live.set('old', session('old', -1));
    await h.find('old');
    await h.find('old');
    expect(h.lookups()).toBe(2);
  });
});
