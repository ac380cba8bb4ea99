import Fastify, { type FastifyInstance } from 'fastify';
import { createResponseCache } from '../../src/cache/response-cache';
import { createCachedResponses } from '../../src/http/cached-responses';
import { responseCacheKey } from '../../src/graphql/response-cache-plugin';
import type { SignedInViewer } from '../../src/sessions/session-service';

const QUERY = 'query Bot($id: ID!) { bot(id: $id) { id name } }';
const DATA = { bot: { id: 'b1', name: 'Ada' } };
const ALICE: SignedInViewer = {
  kind: 'USER',
  userId: 'alice',
  plan: 'FREE',
  tokenHash: 'h',
  expiresAt: new Date(8.64e15),
};

/** Every app a test opened, closed after it (a failed expectation included). */
const opened: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((fastify) => fastify.close()));
});

/**
 * A Fastify app with the fast path in front of a handler that stands for Apollo (it counts
 * what reached it), a response cache holding ALICE's result for QUERY with `{ id: 'b1' }`, and
 * a session service that knows one token.
 */
async function harness() {
  let listening = true;
  const cache = createResponseCache({
    feed: { listening: () => listening, watch: () => undefined },
    maxBytes: 1_000_000,
  });
  expect(cache.store(responseCacheKey('user:alice', QUERY, 'Bot', { id: 'b1' })!, DATA, ['bot:{b1}'], 0)).toBe(true);
  const sessions = {
    resolve: async (token: string) => (token === 'alice-token' ? ALICE : undefined),
  };
  let reachedApollo = 0;
  const fastify: FastifyInstance = Fastify();
  opened.push(fastify);
  fastify.route({
    url: '/graphql',
    method: ['GET', 'POST'],
    preHandler: createCachedResponses({ cache, sessions }),
    handler: async () => {
      reachedApollo++;
      return { data: null };
    },
  });
  // Over a loopback socket: Fastify's inject needs an ES module Jest cannot load here.
  const url = `${await fastify.listen({ host: '127.0.0.1', port: 0 })}/graphql`;
  const answer = async (response: Response) => ({
    statusCode: response.status,
    contentType: response.headers.get('content-type'),
    body: await response.text(),
  });
  const post = async (body: unknown, headers: Record<string, string> = {}) =>
    answer(
      await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer alice-token', ...headers },
        body: JSON.stringify(body),
      }),
    );
  const get = async (search: string) =>
    answer(await fetch(`${url}?${search}`, { headers: { authorization: 'Bearer alice-token' } }));
  return {
    fastify,
    post,
    get,
    reachedApollo: () => reachedApollo,
    stopListening: () => (listening = false),
  };
}

describe('the response cache fast path (POST /graphql answered before Apollo)', () => {
  it('answers a held result as Apollo would: the same body, content type and status', async () => {
    const h = await harness();
    const answer = await h.post({ query: QUERY, operationName: 'Bot', variables: { id: 'b1' } });
    expect(answer.statusCode).toBe(200);
    expect(answer.contentType).toBe('application/json; charset=utf-8');
    // Apollo's prettyJSONStringify: JSON and a newline.
    expect(answer.body).toBe(`${JSON.stringify({ data: DATA })}\n`);
    expect(h.reachedApollo()).toBe(0);
  });

  it('leaves everything it cannot answer exactly as Apollo would to Apollo', async () => {
    const h = await harness();
    const body = { query: QUERY, operationName: 'Bot', variables: { id: 'b1' } };
    const cases = [
      // Another viewer, an anonymous one, other variables, another operation name.
      () => h.post(body, { authorization: 'Bearer someone-else' }),
      () => h.post(body, { authorization: '' }),
      () => h.post({ ...body, variables: { id: 'b2' } }),
      () => h.post({ ...body, operationName: 'Other' }),
      // A persisted query (Apollo checks its hash), a batch, malformed fields.
      () => h.post({ ...body, extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } }),
      () => h.post([body]),
      () => h.post({ ...body, variables: ['b1'] }),
      () => h.post({ ...body, operationName: 7 }),
      // Another content negotiation: Apollo chooses the media type.
      () => h.post(body, { accept: 'application/graphql-response+json' }),
      // A GET (CSRF prevention is Apollo's).
      () =>
        h.get(`query=${encodeURIComponent(QUERY)}&operationName=Bot&variables=${encodeURIComponent('{"id":"b1"}')}`),
    ];
    for (const [i, send] of cases.entries()) {
      const answer = await send();
      expect({ case: i, body: answer.body }).toEqual({ case: i, body: JSON.stringify({ data: null }) });
    }
    expect(h.reachedApollo()).toBe(cases.length);
  });

  it('answers nothing while invalidations cannot arrive', async () => {
    const h = await harness();
    h.stopListening();
    const answer = await h.post({ query: QUERY, operationName: 'Bot', variables: { id: 'b1' } });
    expect(answer.body).toBe(JSON.stringify({ data: null }));
    expect(h.reachedApollo()).toBe(1);
  });
});
