import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { sessionBackdoor } from '../helpers/sessions';
import { createBot, errorCode, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/** The attacks of issue 5, replayed against the real api: each must be refused before it runs. */

const DEEP_QUERY = `query($id: ID!) { bot(id: $id) { sources { bot { sources { bot { sources { bot { id } } } } } } } }`;

const wsUrl = (app: TestApp) => `${app.url.replace('http', 'ws')}/graphql`;

/** Opens a raw graphql-transport-ws socket; resolves once the server acknowledged connection_init. */
async function rawSocket(
  app: TestApp,
  payload: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<{ socket: WebSocket; messages: any[]; closed: Promise<{ code: number; reason: string }> }> {
  const socket = new WebSocket(wsUrl(app), 'graphql-transport-ws', { headers });
  const messages: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      messages.push(message);
      if (message.type === 'connection_ack') resolve();
    });
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
    socket.on('error', reject);
    socket.on('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    void closed.then(({ code, reason }) => reject(new Error(`closed ${code} ${reason}`)));
  });
  return { socket, messages, closed };
}

/**
 * Closes a socket and waits until the server has seen it go, so the next test starts with
 * this client address's socket count back where it was.
 */
async function finish(connection: { socket: WebSocket; closed: Promise<unknown> }): Promise<void> {
  connection.socket.close();
  await connection.closed;
  await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Sends a subscribe message and resolves with the first answer for its id. */
function operate(
  connection: { socket: WebSocket; messages: any[] },
  id: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<any> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString());
      if (message.id === id && message.type !== 'complete') {
        connection.socket.off('message', onMessage);
        resolve(message);
      }
    };
    connection.socket.on('message', onMessage);
    connection.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
  });
}

describe('hardening (development settings)', () => {
  let app: TestApp;
  let owner: { token: string; userId: string };
  let bot: { id: string; publicKey: string };

  beforeAll(async () => {
    app = await startTestApp({ WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '2', WS_MAX_SOCKETS_PER_IP: '3' });
    owner = await signUpOwner(app, 'hard');
    bot = await createBot(app, owner.token, 'Hardened');
  });
  afterAll(() => app.close());

  describe('operation limits', () => {
    it('refuses a query deeper than GRAPHQL_MAX_DEPTH before running it', async () => {
      const response = await app.gql(DEEP_QUERY, { id: bot.id }, owner.token);
      expect(response.status).toBe(400);
      expect(response.data ?? null).toBeNull();
      expect(response.errors![0]!.message).toMatch(/depth/i);
    });

    it('refuses more aliases than GRAPHQL_MAX_ALIASES', async () => {
      const aliases = Array.from({ length: 11 }, (_, i) => `a${i}: bot(id: $id) { id }`).join(' ');
      const response = await app.gql(`query($id: ID!) { ${aliases} }`, { id: bot.id }, owner.token);
      expect(response.status).toBe(400);
      expect(response.errors![0]!.message).toMatch(/aliases/i);
      const allowed = Array.from({ length: 10 }, (_, i) => `a${i}: bot(id: $id) { id }`).join(' ');
      expect((await app.gql(`query($id: ID!) { ${allowed} }`, { id: bot.id }, owner.token)).errors).toBeUndefined();
    });

    it('refuses more directives than GRAPHQL_MAX_DIRECTIVES', async () => {
      const directives = Array.from({ length: 11 }, () => '@include(if: true)').join(' ');
      const response = await app.gql(`{ me ${directives} { id } }`, {}, owner.token);
      expect(response.status).toBe(400);
      expect(response.errors![0]!.message).toMatch(/directives/i);
    });

    it('stops parsing a document of more than GRAPHQL_MAX_TOKENS tokens', async () => {
      const fields = Array.from({ length: 1200 }, () => 'id').join(' ');
      const response = await app.gql(`{ me { ${fields} } }`, {}, owner.token);
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('GRAPHQL_PARSE_FAILED');
      expect(response.errors![0]!.message).toMatch(/tokens/);
    });

    it('applies the same limits over WebSocket', async () => {
      const connection = await rawSocket(app, { authorization: `Bearer ${owner.token}` });
      const aliases = Array.from({ length: 11 }, (_, i) => `a${i}: messageId`).join(' ');
      const aliased = `subscription { messageStatusChanged(conversationId: "${bot.id}") { ${aliases} } }`;
      const answer = await operate(connection, '1', aliased);
      expect(answer.type).toBe('error');
      expect(JSON.stringify(answer.payload)).toMatch(/aliases/i);
      expect(answer.payload[0].extensions.requestId).toEqual(expect.any(String));
      const tokens = `subscription { ${Array.from({ length: 1200 }, () => '__typename').join(' ')} }`;
      const tooLong = await operate(connection, '2', tokens);
      expect(tooLong.type).toBe('error');
      expect(JSON.stringify(tooLong.payload)).toMatch(/tokens/);
      await finish(connection);
    });
  });

  describe('WebSocket', () => {
    it('serves only subscriptions', async () => {
      const connection = await rawSocket(app, { authorization: `Bearer ${owner.token}` });
      const answer = await operate(connection, 'q', '{ me { email } }');
      expect(answer.type).toBe('error');
      expect(answer.payload[0].message).toMatch(/Only subscriptions/);
      const mutation = await operate(connection, 'm', 'mutation { logOut }');
      expect(mutation.type).toBe('error');
      await finish(connection);
      // The session was not ended by the refused mutation.
      expect((await app.gql('{ me { id } }', {}, owner.token)).data!.me.id).toBe(owner.userId);
    });

    it('caps the subscriptions of one socket', async () => {
      const conversation = await startConversation();
      const connection = await rawSocket(app, { authorization: `Bearer ${conversation.token}` });
      const query = `subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId } }`;
      expect((await operate(connection, 's1', query, { c: conversation.id })).type).toBe('next');
      expect((await operate(connection, 's2', query, { c: conversation.id })).type).toBe('next');
      const third = await operate(connection, 's3', query, { c: conversation.id });
      expect(third.type).toBe('error');
      expect(third.payload[0].extensions.code).toBe('RATE_LIMITED');
      // Messages of one socket are handled in order: the slot is free for the next subscribe.
      connection.socket.send(JSON.stringify({ id: 's1', type: 'complete' }));
      expect((await operate(connection, 's4', query, { c: conversation.id })).type).toBe('next');
      await finish(connection);
    });

    it('caps the sockets of one client address, and frees the slot when one closes', async () => {
      const open = await Promise.all([rawSocket(app), rawSocket(app), rawSocket(app)]);
      await expect(rawSocket(app)).rejects.toThrow('HTTP 429');
      await finish(open[0]!);
      const again = await rawSocket(app);
      await Promise.all([...open.slice(1), again].map(finish));
    });

    it('does not believe X-Forwarded-For from a client that is not a trusted proxy', async () => {
      const open = await Promise.all(
        ['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((ip) => rawSocket(app, {}, { 'x-forwarded-for': ip })),
      );
      await expect(rawSocket(app, {}, { 'x-forwarded-for': '203.0.113.4' })).rejects.toThrow('HTTP 429');
      await Promise.all(open.map(finish));
    });

    it('closes a message larger than the HTTP body limit', async () => {
      const connection = await rawSocket(app);
      connection.socket.send(
        JSON.stringify({ id: 'big', type: 'subscribe', payload: { query: `# ${'x'.repeat(6 * 1024 * 1024)}` } }),
      );
      expect((await connection.closed).code).toBe(1009);
    });

    it.each([
      ['far longer than any token', `Bearer ${'x'.repeat(600)}`],
      ['malformed', 'Bearer two words'],
    ])(
      'refuses a connection_init whose authorization is %s (4401) without looking it up, as HTTP does',
      async (_case, authorization) => {
        const { sessions } = app.deps;
        const resolve = sessions.resolve;
        const lookedUp: string[] = [];
        sessions.resolve = async (token) => {
          lookedUp.push(token);
          return resolve(token);
        };
        try {
          await expect(rawSocket(app, { authorization })).rejects.toThrow(/^closed 4401 .*log in again/);
          expect(lookedUp).toEqual([]);
        } finally {
          sessions.resolve = resolve;
        }
      },
    );

    it('ends an open subscription when its session logs out (4401)', async () => {
      const conversation = await startConversation();
      const connection = await rawSocket(app, { authorization: `Bearer ${conversation.token}` });
      const query = `subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId } }`;
      expect((await operate(connection, 's', query, { c: conversation.id })).type).toBe('next');
      const logOut = await app.gql('mutation { logOut }', {}, conversation.token);
      expect(logOut.data!.logOut).toBe(true);
      expect(await connection.closed).toEqual({ code: 4401, reason: expect.stringMatching(/log in again/) });
    });
  });

  describe('input', () => {
    it.each([
      ['sendMessage', 'text'],
      ['createBot', 'name'],
    ])('rejects a NUL byte in %s as BAD_USER_INPUT', async (mutation) => {
      const response =
        mutation === 'sendMessage'
          ? await app.gql(
              `mutation($i: SendMessageInput!) { sendMessage(input: $i) { conversationId } }`,
              { i: { botId: bot.id, text: 'hello\u0000world' } },
              owner.token,
            )
          : await app.gql(
              `mutation($i: CreateBotInput!) { createBot(input: $i) { id } }`,
              { i: { name: 'nul\u0000bot' } },
              owner.token,
            );
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.message).toMatch(/NUL/);
    });

    it('rejects a NUL byte in a literal, wherever it is', async () => {
      const response = await app.gql(`{ search(botId: "${bot.id}", query: "a\\u0000b") { score } }`, {}, owner.token);
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
    });

    it('keeps a client request id that looks like one, and replaces one that does not', async () => {
      const send = (id: string) =>
        fetch(`${app.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': id },
          body: JSON.stringify({ query: '{ __typename }' }),
        });
      expect((await send('trace-0123456789abcdef')).headers.get('x-request-id')).toBe('trace-0123456789abcdef');
      for (const bad of ['x', 'evil\tid; rm -rf', 'a'.repeat(200), '<script>alert(1)</script>']) {
        const id = (await send(bad)).headers.get('x-request-id');
        expect(id).not.toBe(bad);
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
      }
    });
  });

  describe('sign-up', () => {
    const signUp = (email: string, password: string) =>
      app.gql(`mutation($i: SignUpInput!) { signUp(input: $i) { token } }`, { i: { email, password } });

    it.each([
      ['blank', '          '],
      ['common', '12345678'],
      ['common, in other case', 'PassWord1'],
    ])('refuses a %s password', async (_case, password) => {
      const email = `pw-${password.trim().length}-${Date.now()}@example.com`;
      const response = await signUp(email, password);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.extensions!.field).toBe('password');
      expect(await app.deps.db('users').where({ email })).toHaveLength(0);
    });

    it('creates the account and its session together, or neither', async () => {
      const store = app.deps.sessionStore;
      const create = store.create;
      store.create = async () => {
        throw new Error('session store down');
      };
      const email = `atomic-${Date.now()}@example.com`;
      try {
        expect(errorCode(await signUp(email, 'a fine long passphrase'))).toBe('INTERNAL_SERVER_ERROR');
      } finally {
        store.create = create;
      }
      expect(await app.deps.db('users').where({ email })).toHaveLength(0);
      const retried = await signUp(email, 'a fine long passphrase');
      const token = retried.data!.signUp.token as string;
      const hash = createHash('sha256').update(token).digest('hex');
      expect(await sessionBackdoor(app).stored(hash)).toMatchObject({ kind: 'USER' });
    });

    it('answers a pathological e-mail at once, as bad input', async () => {
      const response = await signUp(`a@${'.'.repeat(40_000)}@`, 'a fine long passphrase');
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.extensions!.field).toBe('email');
    });
  });

  async function startConversation(): Promise<{ id: string; token: string }> {
    const session = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
      k: bot.publicKey,
    });
    const token = session.data!.startWidgetSession.token as string;
    const sent = await app.gql(
      `mutation($i: SendMessageInput!) { sendMessage(input: $i) { conversationId } }`,
      { i: { botId: bot.id, text: 'Hello there' } },
      token,
    );
    return { id: sent.data!.sendMessage.conversationId, token };
  }
});

describe('hardening (production settings)', () => {
  let app: TestApp;
  let owner: { token: string };

  beforeAll(async () => {
    app = await startTestApp({ NODE_ENV: 'production' });
    owner = await signUpOwner(app, 'prod');
  });
  afterAll(() => app.close());

  it('hides field suggestions', async () => {
    const response = await app.gql('{ me { emial } }', {}, owner.token);
    expect(response.status).toBe(400);
    expect(response.errors![0]!.message).toBe('Cannot query field "emial" on type "User".');
  });

  it('refuses introspection over HTTP and WebSocket, anonymous or not', async () => {
    const http = await app.gql('{ __schema { types { name } } }');
    expect(http.errors![0]!.message).toMatch(/introspection/i);
    const connection = await rawSocket(app);
    const answer = await operate(connection, 'i', 'subscription { __schema { types { name } } }');
    expect(answer.type).toBe('error');
    expect(JSON.stringify(answer.payload)).not.toContain('"types"');
    const suggestion = await operate(
      connection,
      's',
      'subscription { messageStatusChange(conversationId: "x") { messageId } }',
    );
    expect(suggestion.type).toBe('error');
    expect(JSON.stringify(suggestion.payload)).not.toMatch(/Did you mean/);
    await finish(connection);
  });
});

describe('hardening (behind a trusted proxy)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1', WS_MAX_SOCKETS_PER_IP: '1' });
  });
  afterAll(() => app.close());

  it('counts sockets by the X-Forwarded-For address the proxy reports', async () => {
    const first = await rawSocket(app, {}, { 'x-forwarded-for': '203.0.113.1' });
    const second = await rawSocket(app, {}, { 'x-forwarded-for': '198.51.100.7, 203.0.113.2' });
    await expect(rawSocket(app, {}, { 'x-forwarded-for': '203.0.113.1' })).rejects.toThrow('HTTP 429');
    await Promise.all([first, second].map(finish));
  });
});

describe('sessions ended elsewhere', () => {
  let app: TestApp;
  let bot: { id: string; publicKey: string };

  beforeAll(async () => {
    app = await startTestApp({ WS_SESSION_CHECK_SECONDS: '1' });
    const owner = await signUpOwner(app, 'elsewhere');
    bot = await createBot(app, owner.token, 'Elsewhere');
  });
  afterAll(() => app.close());

  async function subscribedVisitor() {
    const session = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
      k: bot.publicKey,
    });
    const token = session.data!.startWidgetSession.token as string;
    const sent = await app.gql(
      `mutation($i: SendMessageInput!) { sendMessage(input: $i) { conversationId } }`,
      { i: { botId: bot.id, text: 'Anyone there?' } },
      token,
    );
    const connection = await rawSocket(app, { authorization: `Bearer ${token}` });
    const query = `subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId } }`;
    expect((await operate(connection, 's', query, { c: sent.data!.sendMessage.conversationId })).type).toBe('next');
    return { connection, tokenHash: createHash('sha256').update(token).digest('hex') };
  }

  it('closes a socket whose session another instance deleted (4401)', async () => {
    const { connection, tokenHash } = await subscribedVisitor();
    // What a logOut on another api instance leaves behind: the session is gone, no event here.
    await sessionBackdoor(app).remove(tokenHash);
    expect((await connection.closed).code).toBe(4401);
  });

  it('closes a socket whose session expired (4401)', async () => {
    const { connection, tokenHash } = await subscribedVisitor();
    await sessionBackdoor(app).expire(tokenHash);
    expect((await connection.closed).code).toBe(4401);
  });

  it('keeps a socket whose session is live', async () => {
    const { connection, tokenHash } = await subscribedVisitor();
    let closed = false;
    void connection.closed.then(() => (closed = true));
    // Three re-checks (1 s apart) pass without closing it: counted, not timed, as a busy
    // machine may run fewer in a given time.
    const sessions = app.deps.sessions;
    const isLive = sessions.isLive;
    let checks = 0;
    sessions.isLive = async (hash) => {
      const live = await isLive.call(sessions, hash);
      if (hash === tokenHash) checks++;
      return live;
    };
    try {
      await eventually(async () => checks >= 3);
    } finally {
      sessions.isLive = isLive;
    }
    // An answer on the socket comes after any close the last re-check would have sent.
    const query = `subscription { messageStatusChanged(conversationId: "${bot.id}") { messageId } }`;
    await operate(connection, 'after-checks', query);
    expect(closed).toBe(false);
    await finish(connection);
  });
});
