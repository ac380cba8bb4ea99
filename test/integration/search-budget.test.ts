import { createCacheKeys, type CacheKeys } from '../../src/platform/redis/keys';
import { keysMatching } from '../helpers/redis';
import { normaliseQuery } from '../../src/cache/vector-cache';
import { createRetriever, type Retriever } from '../../src/search/retriever';
import { createBot, errorCode, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const SEARCH = `query($botId: ID!, $query: String!, $limit: Int) {
  search(botId: $botId, query: $query, limit: $limit) { sourceId content score }
}`;
const CREATE_SOURCE = `mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }`;

/** Each bot's results may take this many bytes per TTL window. */
const BUDGET_BYTES = 8192;
/** Searches per account per window. */
const USER_LIMIT = 25;

const TOPICS = ['refunds', 'shipping', 'warranty', 'invoices', 'returns', 'delivery', 'payments', 'accounts'];

/** Fifteen paragraphs of about 700 characters: fifteen chunks, so a search can find 50 at most. */
const HANDBOOK = Array.from({ length: 15 }, (_, i) => {
  const topic = TOPICS[i % TOPICS.length]!;
  const sentence = `Section ${i + 1} explains ${topic} for customers of store number ${i + 1} in plain words. `;
  return sentence.repeat(Math.ceil(700 / sentence.length)).trim();
}).join('\n\n');

describe('search: what it may cache, and how often one account may ask (real Redis and PostgreSQL)', () => {
  let app: TestApp;
  let keys: CacheKeys;
  let database: Retriever;

  beforeAll(async () => {
    app = await startTestApp({
      REDIS_ENABLED: 'true',
      // Searches through the vector cache, as for a bot too large for the chunk memory (chunk-memory.test.ts tests that).
      CHUNK_MEMORY_MAX_BYTES: '0',
      // Every request down to the layers under test, none answered whole (response-cache.test.ts).
      RESPONSE_CACHE_MAX_BYTES: '0',
      VECTOR_CACHE_BOT_BUDGET_BYTES: String(BUDGET_BYTES),
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_USER_PER_MIN: String(USER_LIMIT),
      // Every request of this file comes from 127.0.0.1; the window outlasts the file, so no
      // request is admitted again because time passed.
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_GLOBAL_PER_MIN: '100000',
      RATE_LIMIT_WINDOW_SECONDS: '3600',
    });
    keys = createCacheKeys(app.config.redis.keyPrefix);
    database = createRetriever({ embedder: app.deps.embedder, chunks: app.deps.repos.chunks });
    // Ingests the handbooks; `close` stops it.
    app.startWorker();
  });
  afterAll(() => app?.close());

  const redis = () => app.deps.clients.cacheRedis!;

  /** The bot's cached search results: key and bytes of each, found by the key builder's pattern. */
  async function storedResults(botId: string): Promise<{ key: string; bytes: number }[]> {
    const pattern = keys.vector(botId, 0, '*').replace(/:0:\*$/, ':*');
    const found = await keysMatching(redis(), pattern);
    return Promise.all(found.map(async (key) => ({ key, bytes: await redis().strlen(key) })));
  }

  /** A fresh owner with a bot whose handbook has been ingested (READY). */
  async function ownerWithHandbook(name: string): Promise<{ token: string; botId: string }> {
    const owner = await signUpOwner(app, name);
    const bot = await createBot(app, owner.token, `${name} bot`);
    const created = await app.gql(
      CREATE_SOURCE,
      { input: { botId: bot.id, kind: 'TEXT', title: 'Handbook', text: HANDBOOK } },
      owner.token,
    );
    expect(created.errors).toBeUndefined();
    const id: string = created.data!.createSource.id;
    await eventually(async () => (await app.deps.db('sources').where({ id }).first('status'))?.status === 'READY');
    return { token: owner.token, botId: bot.id };
  }

  it('answers a search for 50 results from PostgreSQL and caches nothing of it; a small one is cached', async () => {
    const { token, botId } = await ownerWithHandbook('large-limit');
    const query = 'how do refunds and shipping work?';
    const large = await app.gql(SEARCH, { botId, query, limit: 50 }, token);
    expect(large.errors).toBeUndefined();
    expect(large.data!.search).toEqual(await database.retrieve(botId, normaliseQuery(query), 50));
    expect(large.data!.search.length).toBeGreaterThan(10);
    expect(await storedResults(botId)).toEqual([]);

    // Up to VECTOR_CACHE_MAX_LIMIT (10) a search is cached, as chat's (3) and the default (5) are.
    const small = await app.gql(SEARCH, { botId, query, limit: 5 }, token);
    expect(small.data!.search).toHaveLength(5);
    expect(await storedResults(botId)).toHaveLength(1);
  });

  it('stores no more of one bot’s results than its budget, and still answers every search right', async () => {
    const { token, botId } = await ownerWithHandbook('budget');
    const searches = 20;
    for (let i = 0; i < searches; i++) {
      const query = `${TOPICS[i % TOPICS.length]} question number ${i}`;
      const answer = await app.gql(SEARCH, { botId, query, limit: 5 }, token);
      expect(answer.errors).toBeUndefined();
      expect(answer.data!.search).toEqual(await database.retrieve(botId, normaliseQuery(query), 5));
    }
    const stored = await storedResults(botId);
    const bytes = stored.reduce((sum, { bytes: size }) => sum + size, 0);
    // Each result is about 4 KB: without a budget all 20 (80 KB) would be stored.
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.length).toBeLessThan(searches);
    expect(bytes).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(Number(await redis().get(keys.vectorBudget(botId)))).toBe(bytes);
  });

  it('refuses an account’s searches past its limit with 429 RATE_LIMITED, and counts no one else’s', async () => {
    const owner = await signUpOwner(app, 'limited');
    const bot = await createBot(app, owner.token, 'Limited bot');
    for (let i = 0; i < USER_LIMIT; i++) {
      const answer = await app.gql(SEARCH, { botId: bot.id, query: `question ${i}` }, owner.token);
      expect(answer.status).toBe(200);
      expect(answer.errors).toBeUndefined();
    }
    const refused = await app.gql(SEARCH, { botId: bot.id, query: 'one too many' }, owner.token);
    expect(refused.status).toBe(429);
    expect(errorCode(refused)).toBe('RATE_LIMITED');
    expect(refused.data).toEqual({ search: null });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    // Another account from the same address searches on.
    const other = await signUpOwner(app, 'unlimited');
    const otherBot = await createBot(app, other.token, 'Other bot');
    const answer = await app.gql(SEARCH, { botId: otherBot.id, query: 'a question' }, other.token);
    expect(answer.status).toBe(200);
    expect(answer.errors).toBeUndefined();
  });
});
