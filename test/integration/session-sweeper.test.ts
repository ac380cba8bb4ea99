import { createPostgresSessionStore } from '../../src/sessions/postgres-session-store';
import { createSessionSweeper } from '../../worker/session-sweeper';
import { signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

describe('session sweeper', () => {
  let app: TestApp;
  beforeAll(async () => {
    // Only the PostgreSQL store is swept: Redis expires sessions by itself.
    app = await startTestApp({ REDIS_ENABLED: 'false' });
  });
  afterAll(() => app.close());

  it('deletes expired sessions and keeps live ones', async () => {
    const [live, expired] = await Promise.all([signUpOwner(app, 'live'), signUpOwner(app, 'gone')]);
    await app.deps
      .db('sessions')
      .where({ user_id: expired.userId })
      .update({ expires_at: new Date(Date.now() - 1000) });
    const sweeper = createSessionSweeper({
      sessions: createPostgresSessionStore(app.deps.db),
      log: app.deps.log,
      intervalMillis: 60_000,
    });

    expect(await sweeper.sweepOnce()).toBe(1);
    expect(await app.deps.db('sessions').where({ user_id: expired.userId })).toHaveLength(0);
    expect(await app.deps.db('sessions').where({ user_id: live.userId })).toHaveLength(1);
    expect((await app.gql('{ me { id } }', {}, live.token)).data!.me.id).toBe(live.userId);
  });
});
