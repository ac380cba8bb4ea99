import knex, { type Knex } from 'knex';
import WebSocket from 'ws';
import { isTransientDbError } from '../../src/platform/postgres/pg-errors';
import { adminConnection } from '../helpers/databases';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const ME = '{ me { id } }';
const START_WIDGET_SESSION = `mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`;

/**
 * Issue 15, row 9: while PostgreSQL refuses connections to the database (`ALTER DATABASE …
 * ALLOW_CONNECTIONS false`, as during a restore or a failover, after its sessions were
 * terminated), every request is a retryable 503 OVERLOADED with Retry-After, never a 200 or a
 * 500 with INTERNAL_SERVER_ERROR. In rollback mode the session look-up is the first thing
 * that fails, while the request context is built; an anonymous request fails in a resolver.
 * The database is this file's own clone, and is given back its connections afterwards.
 */
describe('a database that refuses connections (rollback mode)', () => {
  let app: TestApp;
  let admin: Knex;
  let database: string;
  let owner: { token: string };
  let publicKey: string;

  const allowConnections = (allow: boolean) =>
    admin.raw(`ALTER DATABASE ?? ALLOW_CONNECTIONS ${allow ? 'true' : 'false'}`, [database]);

  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'false' });
    database = new URL(app.config.database.url).pathname.slice(1);
    admin = adminConnection();
    owner = await signUpOwner(app, 'refused');
    publicKey = (await createBot(app, owner.token, 'Refused')).publicKey;

    await allowConnections(false);
    await admin.raw('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?', [database]);
    // The api's pooled sessions are gone once the server lists none for the database.
    await eventually(async () => {
      const { rows } = await admin.raw('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ?', [database]);
      return rows[0].n === 0;
    });
  });
  afterAll(async () => {
    if (admin) {
      await allowConnections(true).catch(() => {});
      await admin.destroy();
    }
    await app?.close();
  });

  /**
   * The one error of a refused request: OVERLOADED, 503, Retry-After, no detail of the cause.
   * Where the error says where it happened (locations, path) and which request (requestId:
   * resolver errors carry it, the x-request-id header always does), that is left aside.
   */
  function expectRetryable(response: { status: number; headers: Headers }, text: string) {
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    const { errors } = JSON.parse(text) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(
      errors.map(({ message, extensions: { requestId, ...extensions } }) => {
        if (requestId !== undefined) expect(requestId).toBe(response.headers.get('x-request-id'));
        return { message, extensions };
      }),
    ).toEqual([
      {
        message: 'The database is unavailable for a moment: try again in 1 s.',
        extensions: { code: 'OVERLOADED', retryAfter: 1 },
      },
    ]);
    expect(text).not.toMatch(/accepting connections|terminating|parley_test/);
  }

  it('is what the server says to a new connection: SQLSTATE 55000, FATAL, and transient', async () => {
    const probe = knex({ client: 'pg', connection: app.config.database.url, pool: { min: 0, max: 1 } });
    try {
      const error = await probe.raw('SELECT 1').then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({ code: '55000', severity: 'FATAL' });
      expect(isTransientDbError(error)).toBe(true);
    } finally {
      await probe.destroy();
    }
  });

  it('answers a signed-in GraphQL request 503 OVERLOADED with Retry-After, each time (the session look-up fails)', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
        body: JSON.stringify({ query: ME }),
      });
      const text = await response.text();
      expectRetryable(response, text);
      expect((JSON.parse(text) as { data?: unknown }).data ?? null).toBeNull();
    }
  });

  it('answers an anonymous GraphQL request 503 OVERLOADED with Retry-After (a resolver fails)', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: START_WIDGET_SESSION, variables: { k: publicKey } }),
      });
      expectRetryable(response, await response.text());
    }
  });

  it('answers POST /uploads 503 OVERLOADED with Retry-After', async () => {
    const form = new FormData();
    form.append('botId', '00000000-0000-4000-8000-000000000000');
    form.append('file', new Blob(['Opening hours are nine to five.'], { type: 'text/plain' }), 'hours.txt');
    const response = await fetch(`${app.url}/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}` },
      body: form,
    });
    expectRetryable(response, await response.text());
  });

  it('closes a WebSocket that authenticates with 1013 Try Again Later, not 4500', async () => {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${owner.token}` } })),
    );
    expect(await closed).toEqual({
      code: 1013,
      reason: 'The database is unavailable for a moment: try again in 1 s.',
    });
  });

  it('serves again once the database takes connections', async () => {
    await allowConnections(true);
    const response = await app.gql(ME, {}, owner.token);
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data!.me.id).toEqual(expect.any(String));
  });
});
