import Fastify from 'fastify';
import { createCacheStats } from '../../src/cache/cache-stats';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { checkRedis, registerRedisHealthRoutes } from '../../src/http/health-redis';
import { isCluster } from '../../src/platform/redis/connection';
import { createLogger } from '../../src/core/logger';
import { connectTestRedis, connectThroughStallingProxy } from '../helpers/redis';
import { eventually, startTestApp, type TestApp, getJson } from '../helpers/test-app';

const silent = createLogger({ name: 'test', level: 'silent', pretty: false });
const GENERIC_ERROR = 'Redis did not answer; see the api log for the cause.';

describe('/health/redis and /health/cache with Redis enabled', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'true' });
  });
  // close() stops the stats flush before it deletes the app's keys.
  afterAll(() => app.close());

  it('reports the connection, PING latency, memory, eviction policy, AOF, its fsync policy and clients', async () => {
    const { status, body } = await getJson(`${app.url}/health/redis`);
    expect(status).toBe(200);
    // The same figures, asked of the same server over a connection of the test's own.
    const probe = await connectTestRedis();
    try {
      const [, policy] = (await probe.redis.config('GET', 'maxmemory-policy')) as string[];
      const [, fsync] = (await probe.redis.config('GET', 'appendfsync')) as string[];
      const [, maxmemory] = (await probe.redis.config('GET', 'maxmemory')) as string[];
      const aof = /aof_enabled:(\d)/.exec(await probe.redis.info('persistence'))![1];
      const onCluster = isCluster(probe.redis);
      expect(body).toEqual({
        status: 'ok',
        enabled: true,
        mode: onCluster ? 'cluster' : 'single',
        ...(onCluster && {
          // The local cluster of `make cluster`: 3 masters with a replica each, every node alike.
          cluster: { state: 'ok', slotsAssigned: 16384, slotsOk: 16384, knownNodes: 6, masters: 3, replicas: 3 },
          nodes: [...Array(3).fill('master'), ...Array(3).fill('replica')].map((role) =>
            expect.objectContaining({ role, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/), status: 'ok' }),
          ),
        }),
        connected: true,
        connection: 'ready',
        pingMillis: expect.any(Number),
        usedMemoryBytes: expect.any(Number),
        maxmemoryBytes: Number(maxmemory),
        maxmemoryPolicy: policy,
        aofEnabled: aof === '1',
        appendfsync: fsync,
        connectedClients: expect.any(Number),
        // Without REDIS_CACHE_URL the one Redis holds it all, and the cache shares it.
        holds: [
          'write buffer',
          'sessions',
          'rate-limit counters',
          'message status events',
          'cached entities',
          'search results',
          'cache invalidations',
          'cache hit counts',
        ],
        cache: {
          shared: true,
          holds: ['cached entities', 'search results', 'cache invalidations', 'cache hit counts'],
          maxmemoryPolicy: policy,
          maxmemoryBytes: Number(maxmemory),
        },
        warnings: expect.any(Array),
        rateLimits: { store: 'redis' },
      });
    } finally {
      await probe.drop();
    }
    expect(body.warnings).toContainEqual(
      expect.stringMatching(
        /^The cache shares the durable Redis \(.+\): .* Set REDIS_CACHE_URL to a Redis with maxmemory and maxmemory-policy allkeys-lru\.$/,
      ),
    );
    // The durability check's findings are there too: the machine's Redis runs without AOF.
    if (!body.aofEnabled) expect(body.warnings).toContainEqual(expect.stringMatching(/^appendonly is no/));
    expect(body.pingMillis).toBeGreaterThanOrEqual(0);
    expect(body.pingMillis).toBeLessThan(1000);
    expect(body.usedMemoryBytes).toBeGreaterThan(0);
    // This app's connection and the probe's, at least.
    expect(body.connectedClients).toBeGreaterThanOrEqual(2);
  });

  it('answers 503 with a generic error while disconnected, while the api keeps answering, and recovers', async () => {
    const redis = app.deps.clients.redis!;
    redis.disconnect();
    try {
      const { status, body } = await getJson(`${app.url}/health/redis`);
      expect(status).toBe(503);
      expect(body).toMatchObject({ status: 'unavailable', enabled: true, connected: false, error: GENERIC_ERROR });
      expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|6379|ECONNREFUSED|closed/i);

      expect((await getJson(`${app.url}/health`)).status).toBe(200);
      expect((await getJson(`${app.url}/health/db`)).status).toBe(200);
      const me = await app.gql('{ me { id } }');
      expect(me.status).toBe(200);
      expect(me.data).toEqual({ me: null });

      // The counts fall back to this instance's, and say so.
      const cache = await getJson(`${app.url}/health/cache`);
      expect(cache.status).toBe(200);
      expect(cache.body).toMatchObject({
        enabled: true,
        scope: 'instance',
        warning: expect.stringMatching(/instance/),
      });
    } finally {
      await redis.connect();
    }
    const back = await eventually(async () => {
      const answer = await getJson(`${app.url}/health/redis`);
      return answer.status === 200 && answer.body;
    });
    expect(back.connected).toBe(true);
  });

  it('shows hits, misses and hit rates per family and in total, null before the first read', async () => {
    const before = (await getJson(`${app.url}/health/cache`)).body;
    app.deps.cacheStats.record('bot', 'redis', 3, 1);
    app.deps.cacheStats.record('user', 'l1', 0, 2);
    const { status, body } = await getJson(`${app.url}/health/cache`);
    expect(status).toBe(200);
    expect(body.scope).toBe('deployment');
    expect(body.warning).toBeUndefined();
    const delta = (path: (report: any) => { hits: number; misses: number }) => ({
      hits: path(body).hits - path(before).hits,
      misses: path(body).misses - path(before).misses,
    });
    expect(delta((r) => r.families.bot.redis)).toEqual({ hits: 3, misses: 1 });
    expect(delta((r) => r.families.user.l1)).toEqual({ hits: 0, misses: 2 });
    expect(delta((r) => r.total.redis)).toEqual({ hits: 3, misses: 1 });
    const { hits, misses, hitRate } = body.total.redis;
    expect(hitRate).toBeCloseTo(hits / (hits + misses), 4);
    expect(Object.keys(body.families).sort()).toEqual(
      ['bot', 'botsByUser', 'conversation', 'session', 'source', 'sourcesByBot', 'user', 'vector'].sort(),
    );
    for (const family of Object.values(body.families) as any[]) {
      for (const layer of [family.l1, family.redis]) {
        expect(layer.hitRate).toEqual(
          layer.hits + layer.misses === 0 ? null : layer.hits / (layer.hits + layer.misses),
        );
      }
    }
  });
});

describe('checkRedis against a Redis that is not there or does not answer', () => {
  const stats = createCacheStats({ keys: createCacheKeys('unused:'), log: silent });

  it('answers 503 for a closed client, through the route', async () => {
    // A client whose connection is gone for good. (A client left reconnecting to a dead port
    // behaves the same here; ioredis keeps a 2 s timer after disconnecting such a client,
    // which would hold the test run open.)
    const probe = await connectTestRedis();
    await probe.drop();
    const fastify = Fastify();
    registerRedisHealthRoutes(fastify, {
      redis: probe.redis,
      rateLimiter: { mode: () => ({ store: 'memory' }) },
      cacheStats: stats,
      log: silent,
    });
    try {
      const url = await fastify.listen({ host: '127.0.0.1', port: 0 });
      const { status, body } = await getJson(`${url}/health/redis`);
      expect(status).toBe(503);
      expect(body).toMatchObject({ connected: false, error: GENERIC_ERROR });
      // A closed cluster client goes back from 'end' to 'close' as its node connections drain,
      // at a moment of its own: either is a client that is gone.
      expect(isCluster(probe.redis) ? ['end', 'close'] : ['end']).toContain(body.connection);
    } finally {
      await fastify.close();
    }
  });

  it('gives up on a PING that gets no answer within its time limit', async () => {
    // Not timed: a busy machine is slow; only the check's limit can end the stuck PING.
    const stuck = await connectThroughStallingProxy();
    try {
      expect((await checkRedis(stuck.redis, silent, 200)).connected).toBe(true);
      stuck.stall();
      const health = await checkRedis(stuck.redis, silent, 200);
      expect(health).toMatchObject({ status: 'unavailable', connected: false, error: GENERIC_ERROR });
    } finally {
      await stuck.close();
    }
  });
});

describe('/health/redis and /health/cache in rollback mode', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'false' });
  });
  afterAll(() => app.close());

  it('says Redis is off, with 200', async () => {
    const { status, body } = await getJson(`${app.url}/health/redis`);
    expect(status).toBe(200);
    // The rate limits count in this instance's memory then.
    expect(body).toEqual({ enabled: false, rateLimits: { store: 'memory' } });
  });

  it('shows this instance’s counts', async () => {
    app.deps.cacheStats.record('bot', 'l1', 1, 1);
    const { status, body } = await getJson(`${app.url}/health/cache`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      enabled: false,
      scope: 'instance',
      total: { l1: { hits: 1, misses: 1, hitRate: 0.5 } },
    });
  });
});
