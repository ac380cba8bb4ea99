import pino from 'pino';
import { noCacheStats } from '../../src/cache/cache-stats';
import { createCacheKeys, type CacheKeys } from '../../src/platform/redis/keys';
import { createVectorCache, normaliseQuery, vectorQueryHash, type VectorCache } from '../../src/cache/vector-cache';
import { closeRedis } from '../../src/platform/redis/connection';
import { createLogger } from '../../src/core/logger';
import type { ChunkMatch } from '../../src/repos/chunks';
import { createCachedRetriever } from '../../src/search/cached-retriever';
import { createRetriever, type Retriever } from '../../src/search/retriever';
import { createUrlFetcher } from '../../src/sources/fetch-url';
import { createSourceIngester, type SourceIngester } from '../../worker/source-ingester';
import { createVectorWarmer } from '../../worker/vector-warmer';
import { connectTestRedis } from '../helpers/redis';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const CREATE_SOURCE = `mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }`;
const SEARCH = `query($botId: ID!, $query: String!, $limit: Int) {
  search(botId: $botId, query: $query, limit: $limit) { sourceId content score }
}`;

const REFUNDS = `Refund policy. Customers may request a refund within 30 days of purchase.
Refunds are paid back to the original credit card. Opened software licences cannot be refunded.`;
const SHIPPING = `Shipping and delivery. Parcels leave our warehouse in Rotterdam every weekday.
Standard delivery to Canada takes seven to ten days; a refund for a lost parcel is paid at once.`;
const GIFT_CARDS = 'Gift cards are valid for two years and can be spent on refunds of any purchase.';

const silent = createLogger({ name: 'test', level: 'silent', pretty: false });
/** How long the cached results live in this file (the least allowed), and how often the worker's warmer runs. */
const TTL_SECONDS = 60;

describe('vector cache (real Redis and PostgreSQL, this file its own prefix)', () => {
  let app: TestApp;
  let owner: { token: string };
  let keys: CacheKeys;
  /** The worker's vector cache: its own instance over the same Redis and prefix, as in the worker process. */
  let workerCache: VectorCache;
  let ingester: SourceIngester;
  /** The uncached retriever: what PostgreSQL answers. */
  let database: Retriever;
  /** The retriever the app was built with (the cached one); tests that swap it put it back. */
  let appRetriever: Retriever;
  /** Queries that read `source_chunks`, since the test last reset it. */
  let chunkQueries = 0;
  /** Versions bumped by the worker, per bot. */
  const workerBumps = new Map<string, number>();

  beforeAll(async () => {
    app = await startTestApp({
      REDIS_ENABLED: 'true',
      // Searches through the vector cache, as for a bot too large for the chunk memory (chunk-memory.test.ts tests that).
      CHUNK_MEMORY_MAX_BYTES: '0',
      // Every request down to the layers under test, none answered whole (response-cache.test.ts).
      RESPONSE_CACHE_MAX_BYTES: '0',
      VECTOR_CACHE_TTL_SECONDS: String(TTL_SECONDS),
      VECTOR_WARM_INTERVAL_SECONDS: '1',
      VECTOR_WARM_TOP: '5',
    });
    owner = await signUpOwner(app, 'vector-owner');
    keys = createCacheKeys(app.config.redis.keyPrefix);
    database = createRetriever({ embedder: app.deps.embedder, chunks: app.deps.repos.chunks });
    appRetriever = app.deps.retriever;
    workerCache = createVectorCache({
      redis: app.deps.clients.redis!,
      keys,
      ttlSeconds: app.config.vectorCache.ttlSeconds,
      stats: noCacheStats,
      log: silent,
    });
    // The worker as worker/main.ts wires it with Redis: an ingested source bumps its bot's version.
    ingester = createSourceIngester({
      sources: app.deps.repos.sources,
      fetcher: createUrlFetcher(app.config.ingestion.fetch),
      embedder: app.deps.embedder,
      log: silent,
      settings: { ...app.config.ingestion, concurrency: 1 },
      async onSourceChanged({ botId }) {
        await workerCache.bumpVersion(botId);
        workerBumps.set(botId, (workerBumps.get(botId) ?? 0) + 1);
      },
    });
    ingester.start();
    app.deps.db.on('query', (query: { sql: string }) => {
      if (query.sql.includes('source_chunks')) chunkQueries += 1;
    });
  });

  afterAll(async () => {
    await ingester?.stop();
    await app?.close();
  });

  afterEach(() => {
    app.deps.retriever = appRetriever;
  });

  /** The cache's Redis: here the one Redis (cache-redis.test.ts runs it apart). */
  const redis = () => app.deps.clients.cacheRedis!;

  async function search(botId: string, query: string, limit?: number): Promise<ChunkMatch[]> {
    const response = await app.gql(SEARCH, { botId, query, limit }, owner.token);
    expect(response.errors).toBeUndefined();
    return response.data!.search;
  }

  /** Adds a TEXT source through the API and waits until the worker has made it READY and bumped the bot's version. */
  async function addSource(botId: string, title: string, text: string): Promise<string> {
    const bumps = workerBumps.get(botId) ?? 0;
    const created = await app.gql(CREATE_SOURCE, { input: { botId, kind: 'TEXT', title, text } }, owner.token);
    expect(created.errors).toBeUndefined();
    const id: string = created.data!.createSource.id;
    // Read from the table: whether the API's entity cache has heard of the worker's change is not this file's subject.
    await eventually(async () => (await app.deps.db('sources').where({ id }).first('status'))?.status === 'READY');
    // The worker reports each change: the claim, then READY, after its commit. The status
    // alone may be seen a moment before the second report.
    await eventually(async () => (workerBumps.get(botId) ?? 0) >= bumps + 2);
    return id;
  }

  async function botWith(text: string): Promise<{ botId: string; sourceId: string }> {
    const bot = await createBot(app, owner.token, 'Vector bot');
    return { botId: bot.id, sourceId: await addSource(bot.id, 'Policy', text) };
  }

  const version = async (botId: string) => Number((await redis().get(keys.vectorVersion(botId))) ?? 0);
  const resultKey = async (botId: string, query: string, limit: number) =>
    keys.vector(botId, await version(botId), vectorQueryHash(normaliseQuery(query), limit));

  it('answers a repeated search, in any case and spacing, from Redis without reading source_chunks', async () => {
    const { botId } = await botWith(REFUNDS);
    const before = app.deps.cacheStats.snapshot().vector.redis;
    chunkQueries = 0;
    const first = await search(botId, 'Refund policy', 3);
    expect(first.length).toBeGreaterThan(0);
    expect(chunkQueries).toBeGreaterThan(0);

    chunkQueries = 0;
    expect(await search(botId, 'Refund policy', 3)).toEqual(first);
    expect(await search(botId, '  REFUND \t\n  Policy ', 3)).toEqual(first);
    // Full-width letters are the same query once NFKC-normalised.
    expect(await search(botId, 'Ｒｅｆｕｎｄ policy', 3)).toEqual(first);
    expect(chunkQueries).toBe(0);
    const after = app.deps.cacheStats.snapshot().vector.redis;
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(3);

    // The limit is part of the key.
    await search(botId, 'Refund policy', 2);
    expect(chunkQueries).toBeGreaterThan(0);
  });

  it('returns exactly what PostgreSQL returns: source ids, contents and scores to the last bit', async () => {
    const { botId } = await botWith(REFUNDS);
    await addSource(botId, 'Shipping', SHIPPING);
    const fresh = await database.retrieve(botId, 'refund for a parcel', 5);
    expect(fresh.length).toBeGreaterThan(1);
    const missed = await app.deps.retriever.retrieve(botId, 'refund for a parcel', 5);
    chunkQueries = 0;
    const hit = await app.deps.retriever.retrieve(botId, 'refund for a parcel', 5);
    expect(chunkQueries).toBe(0);
    expect(missed).toStrictEqual(fresh);
    expect(hit).toStrictEqual(fresh);
    hit.forEach((match, i) => expect(Object.is(match.score, fresh[i]!.score)).toBe(true));
  });

  it('recomputes after the worker ingests a source of the bot, and finds the new content', async () => {
    const { botId } = await botWith(REFUNDS);
    const query = 'are gift cards valid for refunds?';
    const before = await search(botId, query, 5);
    expect(before.some((match) => match.content.includes('Gift cards'))).toBe(false);
    const versionBefore = await version(botId);

    await addSource(botId, 'Gift cards', GIFT_CARDS);
    expect(await version(botId)).not.toBe(versionBefore);
    expect(await version(botId)).toBeGreaterThan(0);
    // The version key lives twice the results' TTL.
    expect(await redis().pttl(keys.vectorVersion(botId))).toBeGreaterThan((2 * TTL_SECONDS - 5) * 1000);

    chunkQueries = 0;
    const after = await search(botId, query, 5);
    expect(chunkQueries).toBeGreaterThan(0);
    expect(after[0]!.content).toContain('Gift cards');
  });

  it('never stores a result computed before a source change, under any version', async () => {
    const { botId } = await botWith(REFUNDS);
    const query = 'gift cards for refunds';
    // The database answers, then the result waits here before it is stored: the source changes meanwhile.
    let computed!: () => void;
    const reached = new Promise<void>((resolve) => (computed = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const delayed: Retriever = {
      async retrieve(...args) {
        const matches = await database.retrieve(...args);
        computed();
        await released;
        return matches;
      },
    };
    const cache = createVectorCache({
      redis: redis(),
      keys,
      ttlSeconds: TTL_SECONDS,
      stats: noCacheStats,
      log: silent,
    });
    app.deps.retriever = createCachedRetriever({ retriever: delayed, cache });

    const versionRead = await version(botId);
    const answered = search(botId, query, 5);
    await reached;
    await addSource(botId, 'Gift cards', GIFT_CARDS);
    const versionNow = await version(botId);
    expect(versionNow).not.toBe(versionRead);
    release();
    // That search gets what the database said when it asked: from before the change.
    expect((await answered).some((match) => match.content.includes('Gift cards'))).toBe(false);

    const hash = vectorQueryHash(normaliseQuery(query), 5);
    expect(await redis().exists(keys.vector(botId, versionRead, hash), keys.vector(botId, versionNow, hash))).toBe(0);
    app.deps.retriever = appRetriever;
    chunkQueries = 0;
    const next = await search(botId, query, 5);
    expect(chunkQueries).toBeGreaterThan(0);
    expect(next[0]!.content).toContain('Gift cards');
  });

  it('never brings a result from before a change back when the version key is evicted', async () => {
    // A cache Redis running allkeys-lru may evict a version key while results stored under it
    // live (so may an operator's flush): deleting it here does the same.
    const { botId } = await botWith(REFUNDS);
    const query = 'are gift cards valid for refunds?';
    await redis().del(keys.vectorVersion(botId));
    const before = await search(botId, query, 5);
    expect(before.some((match) => match.content.includes('Gift cards'))).toBe(false);
    // Stored: the key of the version the bot has now holds it.
    expect(await redis().exists(await resultKey(botId, query, 5))).toBe(1);

    await addSource(botId, 'Gift cards', GIFT_CARDS);
    await redis().del(keys.vectorVersion(botId));
    chunkQueries = 0;
    const after = await search(botId, query, 5);
    expect(chunkQueries).toBeGreaterThan(0);
    expect(after[0]!.content).toContain('Gift cards');
  });

  it('keeps the version key alive longer than any result stored under it, never shortening it', async () => {
    const { botId } = await botWith(REFUNDS);
    await workerCache.bumpVersion(botId);
    const versionKey = keys.vectorVersion(botId);
    // Say the key was about to expire: storing a result gives it twice the result's TTL again.
    // (Half the result's TTL: short next to what the store must give it, yet no busy machine
    // reaches the search below before it is over.)
    await redis().pexpire(versionKey, (TTL_SECONDS / 2) * 1000);
    await search(botId, 'refund', 5);
    expect(await redis().pttl(await resultKey(botId, 'refund', 5))).toBeGreaterThan((TTL_SECONDS - 5) * 1000);
    expect(await redis().pttl(versionKey)).toBeGreaterThan((2 * TTL_SECONDS - 5) * 1000);
    // A longer life (from an instance with a longer TTL) is kept by a bump and by a store.
    await redis().pexpire(versionKey, 10 * TTL_SECONDS * 1000);
    await workerCache.bumpVersion(botId);
    await search(botId, 'refund', 5);
    expect(await redis().pttl(versionKey)).toBeGreaterThan(9 * TTL_SECONDS * 1000);
  });

  it('loads concurrent misses of one search from PostgreSQL once', async () => {
    const { botId } = await botWith(REFUNDS);
    chunkQueries = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => app.deps.retriever.retrieve(botId, 'refund within 30 days', 4)),
    );
    // One nearest-chunks query: SET LOCAL and the SELECT run in one transaction; only the SELECT names source_chunks.
    expect(chunkQueries).toBe(1);
    for (const result of results) expect(result).toEqual(results[0]);
  });

  it('never answers one bot with another bot’s results for the same search', async () => {
    const refunds = await botWith(REFUNDS);
    const shipping = await botWith(SHIPPING);
    for (let round = 0; round < 2; round++) {
      const [a, b] = [await search(refunds.botId, 'refund', 5), await search(shipping.botId, 'refund', 5)];
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      expect(a.every((match) => match.sourceId === refunds.sourceId)).toBe(true);
      expect(b.every((match) => match.sourceId === shipping.sourceId)).toBe(true);
    }
  });

  it('answers from PostgreSQL when Redis fails, warning once a minute at most', async () => {
    const { botId } = await botWith(REFUNDS);
    const expected = await database.retrieve(botId, 'refund', 5);
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const broken = await connectTestRedis();
    await closeRedis(broken.redis);
    const cache = createVectorCache({ redis: broken.redis, keys, ttlSeconds: TTL_SECONDS, stats: noCacheStats, log });
    app.deps.retriever = createCachedRetriever({ retriever: database, cache });

    for (let i = 0; i < 3; i++) {
      chunkQueries = 0;
      expect(await search(botId, 'refund', 5)).toEqual(expected);
      expect(chunkQueries).toBeGreaterThan(0);
    }
    await cache.bumpVersion(botId);
    // Every failed lookup and count (and the bump) is counted; the warning is logged once.
    expect(cache.failures()).toBeGreaterThanOrEqual(7);
    expect(lines.filter((line) => line.level === 40)).toHaveLength(1);
  });

  it('lets the worker refresh a popular search before it expires, and decays the counts', async () => {
    const { botId } = await botWith(REFUNDS);
    const popularKey = keys.vectorPopular();
    const member = JSON.stringify([botId, 3, 'refund policy']);
    await search(botId, 'Refund policy', 3);
    await search(botId, 'refund POLICY', 3);
    expect(Number(await redis().zscore(popularKey, member))).toBe(2);
    const key = await resultKey(botId, 'refund policy', 3);
    const warmer = createVectorWarmer({
      cache: workerCache,
      retriever: database,
      log: silent,
      top: app.config.vectorCache.warmTop,
      intervalMillis: app.config.vectorCache.warmIntervalSeconds * 1000,
    });

    // Fresh results are left alone.
    chunkQueries = 0;
    const idle = await warmer.warmOnce();
    expect(idle.refreshed).toBe(0);
    expect(chunkQueries).toBe(0);
    expect(Number(await redis().zscore(popularKey, member))).toBe(1);

    // Under a third of its TTL left: the warmer (on its timer) recomputes it with the full TTL.
    await redis().pexpire(key, 5_000);
    warmer.start();
    try {
      await eventually(async () => (await redis().pttl(key)) > (TTL_SECONDS - 5) * 1000, 5_000);
      // Gone altogether: recomputed too, so the next search is a hit.
      await redis().del(key);
      await eventually(async () => (await redis().exists(key)) === 1, 5_000);
    } finally {
      await warmer.stop();
    }
    chunkQueries = 0;
    expect((await search(botId, 'refund policy', 3)).length).toBeGreaterThan(0);
    expect(chunkQueries).toBe(0);
  });
});
