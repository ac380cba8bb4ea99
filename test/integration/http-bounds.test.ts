import { openRaw, type RawConnection } from '../helpers/raw-http';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * One client must not take the api down by holding sockets or sending bodies that cost more
 * to read than to send (issue 15, rows 1 and 6). Sockets are opened for real, from distinct
 * loopback addresses (127.0.0.0/8 is all loopback on Linux), and nothing here asserts on time:
 * a server's 408 or close is an event the test waits for.
 */
describe('time and size bounds on connections and requests', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      HTTP_MAX_IN_FLIGHT: '4',
      HTTP_MAX_CONNECTIONS_PER_IP: '10',
      HTTP_HEADERS_TIMEOUT_MILLIS: '1000',
      HTTP_REQUEST_TIMEOUT_MILLIS: '2000',
    });
  });
  afterAll(() => app.close());

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const json = async (response: Response) =>
    (await response.json()) as { errors?: { message: string; extensions: { code: string } }[]; data?: unknown };

  /** Sends a request's headers announcing a body that never comes; resolves once the server has read them. */
  async function headersWithoutBody(from: string): Promise<RawConnection> {
    const connection = await openRaw(app.url, from);
    // Expect: 100-continue makes Node answer "100 Continue" as it hands the request to Fastify:
    // proof that the server has seen these headers.
    connection.socket.write(
      'POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n' +
        'content-length: 100000\r\nexpect: 100-continue\r\n\r\n',
    );
    await connection.receives(/100 Continue/);
    return connection;
  }

  it('holds no place of HTTP_MAX_IN_FLIGHT for requests whose body has not come, and closes them with 408', async () => {
    const stalled = await Promise.all(Array.from({ length: 6 }, () => headersWithoutBody('127.0.0.3')));
    // More stalled requests than places (4), yet another client is served.
    const victim = await post('{"query":"{ __typename }"}');
    expect(victim.status).toBe(200);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^parley_http_requests_refused_total 0$/m);
    // The request time-out closes each of them; nothing waits forever.
    for (const answer of await Promise.all(stalled.map((connection) => connection.closed))) {
      expect(answer).toMatch(/HTTP\/1\.1 408/);
    }
  });

  it('closes a connection whose headers do not come within the headers time-out', async () => {
    const slow = await openRaw(app.url, '127.0.0.5');
    slow.socket.write('POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    expect(await slow.closed).toMatch(/HTTP\/1\.1 408/);
  });

  it('caps open connections per address: the next one from there is answered 503 and closed, others are served', async () => {
    const held = await Promise.all(Array.from({ length: 10 }, () => openRaw(app.url, '127.0.0.4')));
    try {
      // Each answered once, so the server has counted all ten.
      for (const connection of held) {
        connection.socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
        await connection.receives(/HTTP\/1\.1 200/);
      }
      const refused = await openRaw(app.url, '127.0.0.4');
      const answer = await refused.closed;
      expect(answer).toMatch(/^HTTP\/1\.1 503/);
      expect(answer).toMatch(/retry-after: \d+/i);
      expect((await fetch(`${app.url}/health`)).status).toBe(200);
      expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^parley_http_connections_refused_total 1$/m);
    } finally {
      for (const connection of held) connection.socket.destroy();
    }
    // Closed connections give their places back (once the server has seen them close).
    await eventually(async () => {
      const again = await openRaw(app.url, '127.0.0.4');
      again.socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
      return /^HTTP\/1\.1 200/.test(await again.closed);
    });
  });

  it('refuses a /graphql body over 256 KB with 413, before reading it when its length says so', async () => {
    const big = JSON.stringify({ query: 'query($t: String) { __typename }', variables: { t: 'x'.repeat(300_000) } });
    const refused = await post(big);
    expect(refused.status).toBe(413);
    expect((await json(refused)).errors?.[0]?.message).toMatch(
      /larger than 256 KB.*signed-in owner may send up to 5120 KB/,
    );

    // 10 MB announced, none sent: the answer comes anyway.
    const announced = await openRaw(app.url, '127.0.0.6');
    announced.socket.write(
      'POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n',
    );
    expect(await announced.receives(/\r\n\r\n/)).toMatch(/^HTTP\/1\.1 413/);
    announced.socket.destroy();

    // Chunked, no length announced: cut off once past the limit.
    const chunked = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('lets a signed-in owner send a TEXT source of a megabyte', async () => {
    const owner = await signUpOwner(app, 'big-text');
    const bot = await createBot(app, owner.token);
    const text = 'Our opening hours are nine to five. '.repeat(25_000);
    const response = await post(
      JSON.stringify({
        query: 'mutation($input: CreateSourceInput!) { createSource(input: $input) { id status } }',
        variables: { input: { botId: bot.id, kind: 'TEXT', title: 'Hours', text } },
      }),
      { authorization: `Bearer ${owner.token}` },
    );
    const body = await json(response);
    expect(body.errors).toBeUndefined();
    expect(response.status).toBe(200);
    expect(body.data).toMatchObject({ createSource: { status: 'PENDING' } });
  });

  describe('refuses bodies whose structure would cost seconds to parse or coerce, with 400', () => {
    let token: string;
    beforeAll(async () => {
      // An owner may send 5 MB: the structure, not the size, must be what refuses these.
      token = (await signUpOwner(app, 'structure')).token;
    });
    const statuses = `query($ids: [ID!]!) { messageStatuses(ids: $ids) { messageId } }`;
    const cases: [string, () => string][] = [
      [
        'a list of 1,200,000 ids (4.8 MB)',
        () => JSON.stringify({ query: statuses, variables: { ids: Array.from({ length: 1_200_000 }, () => 'a') } }),
      ],
      [
        '2,000,000 nested arrays',
        () =>
          `{"query":${JSON.stringify(statuses)},"variables":{"ids":${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}}}`,
      ],
      [
        'an object of 300,000 keys, undeclared',
        () =>
          JSON.stringify({
            query: '{ __typename }',
            variables: { junk: Object.fromEntries(Array.from({ length: 300_000 }, (_, i) => [`k${i}`, i])) },
          }),
      ],
      [
        'a list of 1,001 ids (past the lists bound, within the body structure bound)',
        () => JSON.stringify({ query: statuses, variables: { ids: Array.from({ length: 1001 }, (_, i) => `${i}`) } }),
      ],
      [
        'objects nested nine deep in the variables',
        () => JSON.stringify({ query: '{ __typename }', variables: { a: [[[[[[[[{}]]]]]]]] } }),
      ],
    ];
    it.each(cases)('%s', async (_name, body) => {
      const response = await post(body(), { authorization: `Bearer ${token}` });
      expect(response.status).toBe(400);
      const error = (await json(response)).errors?.[0];
      expect(error?.extensions.code).toBe('BAD_REQUEST');
      expect(error?.message).toMatch(/too large/);
    });

    it('takes what is within the bounds', async () => {
      const response = await post(
        JSON.stringify({ query: statuses, variables: { ids: Array.from({ length: 100 }, (_, i) => `${i}`) } }),
        { authorization: `Bearer ${token}` },
      );
      expect(response.status).toBe(200);
    });
  });
});
