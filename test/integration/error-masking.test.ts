import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createBot, signUpOwner, startTestApp, type TestApp, wsClient } from '../helpers/test-app';

/** What a database error might say: it names our schema, so it must never reach a client. */
const SECRET = 'relation secret does not exist';

interface ErrorEntry {
  message: string;
  extensions?: Record<string, unknown>;
}

/**
 * Unexpected errors reach clients masked on every transport: the generic message, code
 * INTERNAL_SERVER_ERROR and the request id, never the cause. The failure is injected where
 * every request starts, the session store behind the bearer token, so that it happens while
 * the request context is being built, before any resolver runs.
 */
describe('error masking when building the request context fails', () => {
  let app: TestApp;
  let owner: { token: string; userId: string };
  let botId: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUpOwner(app, 'masking-owner');
    botId = (await createBot(app, owner.token, 'Masked bot')).id;
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });
  afterAll(() => app?.close());

  const breakSessionStore = () =>
    jest.spyOn(app.deps.sessionStore, 'findLive').mockRejectedValue(new Error(`select failed: ${SECRET}`));

  /** The one masked error, with the request id that leads to the log line. */
  function expectMasked(errors: ErrorEntry[] | undefined, requestId?: string | null): void {
    expect(errors).toHaveLength(1);
    expect(errors![0]).toMatchObject({
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: expect.any(String) },
    });
    expect(Object.keys(errors![0]!.extensions!).sort()).toEqual(['code', 'requestId']);
    if (requestId !== undefined) expect(errors![0]!.extensions!.requestId).toBe(requestId);
  }

  it('masks it on POST /graphql', async () => {
    const broken = breakSessionStore();
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
      body: JSON.stringify({ query: '{ me { id email } }' }),
    });
    const text = await response.text();
    expect(broken).toHaveBeenCalled();
    expect(response.status).toBe(500);
    expect(text).not.toContain('secret');
    expect(text).not.toContain('select failed');
    const body = JSON.parse(text) as { data?: unknown; errors?: ErrorEntry[] };
    expectMasked(body.errors, response.headers.get('x-request-id'));
    expect(body.data ?? null).toBeNull();
  });

  it('masks it on POST /uploads and stores nothing', async () => {
    const broken = breakSessionStore();
    const before = Number((await app.deps.db('sources').count({ n: '*' }))[0]?.n);
    const form = new FormData();
    form.append('botId', botId);
    form.append('file', new Blob(['Opening hours are nine to five.'], { type: 'text/plain' }), 'hours.txt');
    const response = await fetch(`${app.url}/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}` },
      body: form,
    });
    const text = await response.text();
    expect(broken).toHaveBeenCalled();
    expect(response.status).toBe(500);
    expect(text).not.toContain('secret');
    expect(text).not.toContain('select failed');
    expectMasked((JSON.parse(text) as { errors?: ErrorEntry[] }).errors, response.headers.get('x-request-id'));
    expect(Number((await app.deps.db('sources').count({ n: '*' }))[0]?.n)).toBe(before);
  });

  it('masks it on a WebSocket subscribe', async () => {
    const visitor = (
      await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
        k: (await app.deps.repos.bots.findByIds([botId]))[0]!.publicKey,
      })
    ).data!.startWidgetSession.token as string;
    const sent = await app.gql(
      `mutation($input: SendMessageInput!) { sendMessage(input: $input) { conversationId } }`,
      { input: { botId, text: 'Hello' } },
      visitor,
    );
    expect(sent.errors).toBeUndefined();

    // The socket is accepted while the store works; it breaks before the subscription starts.
    let connected!: () => void;
    const acknowledged = new Promise<void>((resolve) => (connected = resolve));
    const client = wsClient(
      app,
      { authorization: `Bearer ${visitor}` },
      { lazy: false, on: { connected: () => connected() } },
    );
    clients.push(client);
    await acknowledged;
    const broken = breakSessionStore();

    const outcome = await new Promise<{ errors?: ErrorEntry[]; data?: unknown; closed?: unknown }>((resolve) => {
      client.subscribe(
        {
          query: `subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId status } }`,
          variables: { c: sent.data!.sendMessage.conversationId },
        },
        {
          next: (result) => resolve({ errors: result.errors as ErrorEntry[], data: result.data }),
          error: (error: unknown) =>
            resolve(Array.isArray(error) ? { errors: error as ErrorEntry[] } : { closed: error }),
          complete: () => resolve({}),
        },
      );
    });
    expect(broken).toHaveBeenCalled();
    expect(JSON.stringify(outcome)).not.toContain('secret');
    expect(outcome.data ?? null).toBeNull();
    expectMasked(outcome.errors);
  });

  it('masks it when a WebSocket authenticates (connection_init)', async () => {
    breakSessionStore();
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${owner.token}` } })),
    );
    const { code, reason } = await closed;
    expect(code).toBe(4500);
    expect(reason).toMatch(/^Internal server error \(request [0-9a-f-]{36}\)$/);
    expect(reason).not.toContain('secret');
  });
});
