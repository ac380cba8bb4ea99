import { warmUpCache } from '../../src/loaders/warm-up';
import { createLogger } from '../../src/core/logger';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

describe('cache warm-up at start-up', () => {
  let app: TestApp;
  const log = createLogger({ name: 'test', level: 'silent', pretty: false });

  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'true' });
  });
  afterAll(() => app.close());

  it('loads the most active bots, their owners and source lists into Redis', async () => {
    const quiet = await signUpOwner(app, 'quiet');
    const busy = await signUpOwner(app, 'busy');
    const idle = await createBot(app, quiet.token, 'Idle');
    const active = await createBot(app, busy.token, 'Active');
    const activeAgo = await createBot(app, busy.token, 'Active a while ago');
    await app.deps.db('bots').where({ id: active.id }).update({ last_active_at: new Date(), message_count: 10 });
    await app.deps
      .db('bots')
      .where({ id: activeAgo.id })
      .update({ last_active_at: new Date(Date.now() - 3_600_000), message_count: 50 });
    const { keys } = app.deps.cache!;
    const all = [idle, active, activeAgo].flatMap((bot) => [keys.bot(bot.id), keys.sourcesByBot(bot.id)]);
    await app.deps.cache!.entities.invalidate([...all, keys.user(quiet.userId), keys.user(busy.userId)]);

    const result = await warmUpCache({ repos: app.deps.repos, cache: app.deps.cache!, log, limit: 2 });
    expect(result).toMatchObject({ bots: 2, complete: true });
    const redis = app.deps.clients.redis!;
    const cached = async (key: string) => (await redis.exists(key)) === 1;
    // Written back asynchronously after the loads: wait for the writes to land.
    for (const key of [
      keys.bot(active.id),
      keys.bot(activeAgo.id),
      keys.sourcesByBot(active.id),
      keys.user(busy.userId),
    ]) {
      await eventually(() => cached(key));
    }
    expect(await cached(keys.bot(idle.id))).toBe(false);
    expect(await cached(keys.user(quiet.userId))).toBe(false);
  });

  it('never holds start-up longer than its budget', async () => {
    const findByIds = app.deps.repos.bots.findByIds;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    app.deps.repos.bots.findByIds = async (ids, executor) => {
      await held;
      return findByIds(ids, executor);
    };
    try {
      await app.deps.cache!.entities.invalidate(
        (await app.deps.db('bots').select('id')).map((row: { id: string }) => app.deps.cache!.keys.bot(row.id)),
      );
      const result = await warmUpCache({
        repos: app.deps.repos,
        cache: app.deps.cache!,
        log,
        budgetMillis: 100,
      });
      expect(result.complete).toBe(false);
      release();
      // It goes on in the background: let it finish before the app closes.
      await result.done;
    } finally {
      app.deps.repos.bots.findByIds = findByIds;
      release();
    }
  });
});
