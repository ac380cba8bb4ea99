import { once } from 'node:events';
import { keysMatching } from '../helpers/redis';
import type { RedisClient } from '../../src/platform/redis/connection';
import { invalidationChannel } from '../../src/cache/entity-cache';
import { closeRedis, connectRedis, createRedis } from '../../src/platform/redis/connection';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { startRedisServer, stopRedisServers, type TestRedisServer } from '../helpers/redis-server';
import { createBot, eventually, getJson, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const BOT_QUERY = `query($id: ID!) { bot(id: $id) { id name } }`;
const SEARCH = `query($botId: ID!, $query: String!) { search(botId: $botId, query: $query, limit: 3) { sourceId } }`;

/** The first part of a key after the prefix: `bot`, `vector-version`, `buffer`, `rate-limit`, … */
const familyOf = (prefix: string, key: string) => key.slice(prefix.length).split(/[:{]/)[0]!;
/** What may be rebuilt from PostgreSQL: the cache's Redis holds these and nothing else. */
const CACHE_FAMILIES = [
  'bot',
  'bots',
  'source',
  'sources',
  'chunks',
  'user',
  'conversation',
  'vector',
  'vector-version',
  'vector-budget',
  'vector-popular',
  'stats',
];

const keysWithPrefix = (redis: RedisClient, prefix: string) => keysMatching(redis, `${prefix}*`);

describe('the cache in a Redis of its own (REDIS_CACHE_URL)', () => {
  let cacheServer: TestRedisServer;
  let app: TestApp;
  /** The test's own connections: to the cache's Redis, and to the durable one (the machine's). */
  let cacheProbe: RedisClient;
  let durableProbe: RedisClient;
  let owner: { token: string };
  let prefix: string;

  beforeAll(async () => {
    cacheServer = await startRedisServer();
    app = await startTestApp({
      REDIS_ENABLED: 'true',
      // Searches through the vector cache, as for a bot too large for the chunk memory (chunk-memory.test.ts tests that).
      CHUNK_MEMORY_MAX_BYTES: '0',
      // Every request down to the layers under test, none answered whole (response-cache.test.ts).
      RESPONSE_CACHE_MAX_BYTES: '0',
      REDIS_CACHE_URL: cacheServer.url,
      // On, so that their counters exist; out of reach.
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_GLOBAL_PER_MIN: '100000',
      RATE_LIMIT_USER_PER_MIN: '100000',
      RATE_LIMIT_IP_PER_MIN: '100000',
      CACHE_L1_TTL_MILLIS: '5000',
    });
    prefix = app.config.redis.keyPrefix;
    const log = createLogger({ name: 'test', level: 'silent', pretty: false });
    const settings = loadConfig({ REDIS_ENABLED: 'true' }).redis;
    durableProbe = createRedis(settings, log);
    await connectRedis(durableProbe, settings);
    cacheProbe = createRedis({ ...settings, url: cacheServer.url }, log);
    await connectRedis(cacheProbe, { ...settings, url: cacheServer.url });
    owner = await signUpOwner(app, 'split');
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([durableProbe && closeRedis(durableProbe), cacheProbe && closeRedis(cacheProbe)]);
    await stopRedisServers();
  });

  /** The app's L1 hits and misses of bots so far. */
  const l1Bots = () => ({ ...app.deps.cacheStats.snapshot().bot.l1 });
  const readBot = async (id: string) => (await app.gql(BOT_QUERY, { id }, owner.token)).data!.bot as { name: string };

  it('keeps the cache (entities, searches, invalidations, hit counts) there, and the buffer, sessions and limits in REDIS_URL', async () => {
    expect(app.deps.clients.cacheRedis).not.toBe(app.deps.clients.redis);
    const bot = await createBot(app, owner.token, 'Split');
    const created = await app.gql(
      `mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }`,
      { i: { botId: bot.id, kind: 'TEXT', title: 'Hours', text: 'We are open from nine to five on weekdays.' } },
      owner.token,
    );
    const sourceId: string = created.data!.createSource.id;
    const worker = app.startWorker();
    await eventually(
      async () => (await app.deps.db('sources').where({ id: sourceId }).first('status'))?.status === 'READY',
    );
    await worker.stop();
    expect((await readBot(bot.id)).name).toBe('Split');
    expect((await app.gql(SEARCH, { botId: bot.id, query: 'opening hours' }, owner.token)).errors).toBeUndefined();
    const sent = await app.gql(
      `mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { status } } }`,
      { i: { botId: bot.id, text: 'When are you open?' } },
      owner.token,
    );
    expect(sent.data!.sendMessage.message.status).toBe('QUEUED');
    await app.drained();
    // Hit counts go out once a second.
    await eventually(async () => (await cacheProbe.exists(app.deps.cache!.keys.cacheStats())) === 1);

    const cacheFamilies = new Set((await keysWithPrefix(cacheProbe, prefix)).map((key) => familyOf(prefix, key)));
    const durableFamilies = new Set((await keysWithPrefix(durableProbe, prefix)).map((key) => familyOf(prefix, key)));
    expect([...cacheFamilies].filter((family) => !CACHE_FAMILIES.includes(family))).toEqual([]);
    expect([...cacheFamilies]).toEqual(expect.arrayContaining(['bot', 'vector', 'vector-version', 'stats']));
    expect([...durableFamilies].filter((family) => CACHE_FAMILIES.includes(family))).toEqual([]);
    expect([...durableFamilies]).toEqual(expect.arrayContaining(['session', 'buffer', 'rate-limit']));

    // Invalidations travel on the cache's Redis, to the api's subscriber there.
    const channel = invalidationChannel(app.deps.cache!.keys);
    expect(await cacheProbe.pubsub('NUMSUB', channel)).toEqual([channel, 1]);
    expect(await durableProbe.pubsub('NUMSUB', channel)).toEqual([channel, 0]);
  });

  it('empties and bypasses the L1 while its subscriber to the cache Redis is cut', async () => {
    const subscriber = app.deps.clients.cacheSubscriber!;
    expect(subscriber).not.toBe(app.deps.clients.redisSubscriber);
    const bot = await createBot(app, owner.token, 'Heard');
    await readBot(bot.id);
    let before = l1Bots();
    await readBot(bot.id);
    expect(l1Bots().hits - before.hits).toBe(1);

    const closed = once(subscriber, 'close');
    subscriber.disconnect();
    await closed;
    before = l1Bots();
    expect((await readBot(bot.id)).name).toBe('Heard');
    // Not even asked: the L1 may have missed invalidations.
    expect(l1Bots()).toEqual(before);

    await subscriber.connect();
    await eventually(async () => {
      const seen = l1Bots();
      await readBot(bot.id);
      return l1Bots().hits > seen.hits;
    });
  });

  it('says in /health/redis which Redis holds what, and what to change in the cache’s', async () => {
    const { status, body } = await getJson(`${app.url}/health/redis`);
    expect(status).toBe(200);
    // The top level is the durable Redis (REDIS_URL).
    const [, durablePolicy] = (await durableProbe.config('GET', 'maxmemory-policy')) as string[];
    expect(body).toMatchObject({
      status: 'ok',
      connected: true,
      maxmemoryPolicy: durablePolicy,
      holds: ['write buffer', 'sessions', 'rate-limit counters', 'message status events'],
      cache: {
        shared: false,
        holds: ['cached entities', 'search results', 'cache invalidations', 'cache hit counts'],
        status: 'ok',
        connected: true,
        maxmemoryPolicy: 'noeviction',
        maxmemoryBytes: 0,
      },
      rateLimits: { store: 'redis' },
    });
    const cacheWarnings = (warnings: string[]) => warnings.filter((warning) => /cache/i.test(warning));
    expect(cacheWarnings(body.warnings)).toEqual([
      expect.stringMatching(/^The cache's Redis has no maxmemory/),
      expect.stringMatching(/^The cache's Redis runs maxmemory-policy noeviction/),
    ]);

    await cacheProbe.config('SET', 'maxmemory', String(64 * 1024 * 1024));
    await cacheProbe.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const configured = (await getJson(`${app.url}/health/redis`)).body;
    expect(configured.cache).toMatchObject({ maxmemoryPolicy: 'allkeys-lru', maxmemoryBytes: 64 * 1024 * 1024 });
    expect(cacheWarnings(configured.warnings)).toEqual([]);
  });

  it('answers from PostgreSQL while the cache Redis is down, and says so without failing /health/redis', async () => {
    const bot = await createBot(app, owner.token, 'Without a cache');
    await cacheServer.stop();
    try {
      expect((await readBot(bot.id)).name).toBe('Without a cache');
      const search = await app.gql(SEARCH, { botId: bot.id, query: 'anything' }, owner.token);
      expect(search.errors).toBeUndefined();
      expect(search.data).toEqual({ search: [] });
      const { status, body } = await getJson(`${app.url}/health/redis`);
      expect(status).toBe(200);
      expect(body.cache).toMatchObject({ shared: false, status: 'unavailable', connected: false });
      expect(body.warnings).toContain(
        "The cache's Redis (REDIS_CACHE_URL) does not answer: reads and searches go to PostgreSQL.",
      );
    } finally {
      await cacheServer.restart();
    }
    await eventually(async () => (await getJson(`${app.url}/health/redis`)).body.cache.connected === true);
  });
});
