import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { createBot, errorCode, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/** The same session rules on both stores: PostgreSQL (rollback mode) and Redis. */
describe.each([
  ['PostgreSQL', { REDIS_ENABLED: 'false' }],
  ['Redis', { REDIS_ENABLED: 'true' }],
])('sessions in %s', (store, env) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(env);
  });
  afterAll(() => app.close());

  const me = (token: string) => app.gql('{ me { id } }', {}, token);
  const logIn = async (email: string) => {
    const response = await app.gql(`mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }`, {
      e: email,
      p: 'correct horse battery',
    });
    return response.data!.logIn.token as string;
  };

  it('keeps sessions where the mode says, and never the token itself', async () => {
    const owner = await signUpOwner(app, 'where');
    const rows = await app.deps.db('sessions').where({ token_hash: hash(owner.token) });
    expect(rows).toHaveLength(store === 'PostgreSQL' ? 1 : 0);
    if (store === 'Redis') {
      const key = `${app.config.redis.keyPrefix}session:{${hash(owner.token)}}`;
      const stored = await app.deps.clients.redis!.get(key);
      expect(stored).toContain(owner.userId);
      expect(stored).not.toContain(owner.token);
      const ttl = await app.deps.clients.redis!.ttl(key);
      expect(ttl).toBeGreaterThan(86_400 - 60);
      expect(ttl).toBeLessThanOrEqual(86_400);
    }
    expect((await me(owner.token)).data!.me.id).toBe(owner.userId);
  });

  it('refuses a token after logOut, everywhere at once', async () => {
    const owner = await signUpOwner(app, 'out');
    expect((await app.gql('mutation { logOut }', {}, owner.token)).data!.logOut).toBe(true);
    expect(errorCode(await me(owner.token))).toBe('UNAUTHENTICATED');
    expect(await app.deps.sessions.resolve(owner.token)).toBeUndefined();
  });

  it('ends every session of the owner with logOutEverywhere, and only theirs', async () => {
    const owner = await signUpOwner(app, 'everywhere');
    const other = await signUpOwner(app, 'bystander');
    const second = await logIn(owner.email);
    const bot = await createBot(app, owner.token, 'Everywhere bot');
    const visitor = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
      k: bot.publicKey,
    });

    // A socket of the second session, to be closed along with it.
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      socket.on('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${second}` } })),
      );
      socket.on('message', (data) => {
        if (JSON.parse(data.toString()).type === 'connection_ack') resolve();
      });
    });

    const ended = await app.gql('mutation { logOutEverywhere }', {}, owner.token);
    expect(ended.data!.logOutEverywhere).toBe(2);
    expect(errorCode(await me(owner.token))).toBe('UNAUTHENTICATED');
    expect(errorCode(await me(second))).toBe('UNAUTHENTICATED');
    expect(await closed).toBe(4401);
    expect((await me(other.token)).data!.me.id).toBe(other.userId);
    // A widget visitor of the owner's bot is not the owner's session.
    expect(await app.deps.sessions.resolve(visitor.data!.startWidgetSession.token)).toMatchObject({ kind: 'VISITOR' });
  });

  it('lets only an owner end all sessions', async () => {
    const owner = await signUpOwner(app, 'visitor-owner');
    const bot = await createBot(app, owner.token, 'Visited');
    const visitor = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
      k: bot.publicKey,
    });
    const response = await app.gql('mutation { logOutEverywhere }', {}, visitor.data!.startWidgetSession.token);
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(errorCode(await app.gql('mutation { logOutEverywhere }'))).toBe('UNAUTHENTICATED');
  });

  it('carries the plan with the session', async () => {
    const owner = await signUpOwner(app, 'planned');
    expect(await app.deps.sessions.resolve(owner.token)).toMatchObject({ kind: 'USER', plan: 'FREE' });
  });
});

describe('sessions while Redis is unreachable', () => {
  let app: TestApp;
  beforeAll(async () => {
    // Without the grace that keeps recently confirmed sessions working through an outage, and
    // without the memory that answers them while the invalidation channel still stands.
    app = await startTestApp({ REDIS_ENABLED: 'true', SESSION_OUTAGE_GRACE_SECONDS: '0', SESSION_MEMORY_SECONDS: '0' });
  });
  afterAll(() => app.close());

  it('answers signed-in requests with a retryable 503, and recovers by itself', async () => {
    const owner = await signUpOwner(app, 'outage');
    const bot = await createBot(app, owner.token, 'Outage bot');
    const redis = app.deps.clients.redis!;
    redis.disconnect();
    try {
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      expect(body.errors[0]!.extensions).toMatchObject({ code: 'OVERLOADED', retryAfter: 5 });
      expect(body.errors[0]!.message).toMatch(/try again in 5 s/);

      const upload = new FormData();
      upload.append('botId', bot.id);
      upload.append('file', new Blob(['Open nine to five.'], { type: 'text/plain' }), 'hours.txt');
      const uploaded = await fetch(`${app.url}/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.token}` },
        body: upload,
      });
      expect(uploaded.status).toBe(503);
      expect(uploaded.headers.get('retry-after')).toBe('5');

      // A new widget session cannot be stored either: the same retryable answer.
      const widget = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
        k: bot.publicKey,
      });
      expect({ status: widget.status, errors: widget.errors }).toMatchObject({
        status: 503,
        errors: [{ extensions: { code: 'OVERLOADED' } }],
      });

      const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      socket.on('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${owner.token}` } })),
      );
      expect(await closed).toBe(1013);
    } finally {
      await redis.connect();
    }
    expect((await me(app, owner.token)).data!.me.id).toBe(owner.userId);
  });
});

const me = (app: TestApp, token: string) => app.gql('{ me { id } }', {}, token);
