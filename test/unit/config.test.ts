import { cacheRedisSettings } from '../../src/platform/redis/connection';
import { ConfigError, loadConfig } from '../../src/config/config';

describe('loadConfig', () => {
  it('has working defaults for every setting', () => {
    const config = loadConfig({});
    expect(config.database.pool).toEqual({ max: 25, minIdle: 10, idleTimeoutMillis: 30_000, maxLifetimeSeconds: 3600 });
    expect(config.redis).toMatchObject({ url: 'redis://127.0.0.1:6379', db: 0, ttlSeconds: 3600 });
    expect(config.http).toEqual({
      host: '0.0.0.0',
      port: 4000,
      uploadMaxBytes: 10 * 1024 * 1024,
      trustedProxies: [],
      maxInFlight: 4096,
      maxConnectionsPerIp: 128,
      headersTimeoutMillis: 10_000,
      requestTimeoutMillis: 30_000,
      graphqlMaxBodyBytes: 256 * 1024,
      ipv6PrefixBits: 64,
    });
    expect(config.graphqlLimits).toEqual({
      maxDepth: 6,
      maxAliases: 10,
      maxDirectives: 10,
      maxTokens: 1000,
      maxCost: 5000,
    });
    expect(config.websocket).toEqual({ maxSubscriptionsPerSocket: 10, maxSocketsPerIp: 50, sessionCheckSeconds: 30 });
    expect(config.sessions.ttlSeconds).toBe(86_400);
    expect(config.vectorCache).toEqual({
      ttlSeconds: 600,
      warmTop: 50,
      warmIntervalSeconds: 120,
      maxLimit: 10,
      botBudgetBytes: 4 * 1024 * 1024,
    });
    // The cache shares REDIS_URL's Redis unless REDIS_CACHE_URL names one.
    expect(config.redis.cacheUrl).toBeUndefined();
    expect(config.redis.l1).toEqual({ maxBytes: 32 * 1024 * 1024, ttlMillis: 60_000 });
    expect(config.isProduction).toBe(false);
  });

  it('refuses a variable it no longer reads, naming what replaced it', () => {
    expect(() => loadConfig({ CACHE_L1_MAX_ENTRIES: '0' })).toThrow(
      /CACHE_L1_MAX_ENTRIES: no longer read; the L1 is bounded in bytes alone: CACHE_L1_MAX_BYTES \(0 turns it off\)/,
    );
    expect(loadConfig({ CACHE_L1_MAX_BYTES: '0' }).redis.l1.maxBytes).toBe(0);
    expect(() => loadConfig({ CACHE_L1_TTL_MILLIS: '300001' })).toThrow(/CACHE_L1_TTL_MILLIS/);
  });

  it('keeps cached search results 1 to 60 minutes, warmed often enough that they do not expire unseen', () => {
    expect(
      loadConfig({ VECTOR_CACHE_TTL_SECONDS: '60', VECTOR_WARM_INTERVAL_SECONDS: '19' }).vectorCache,
    ).toMatchObject({
      ttlSeconds: 60,
      warmTop: 50,
      warmIntervalSeconds: 19,
    });
    for (const ttl of ['59', '3601']) {
      expect(() => loadConfig({ VECTOR_CACHE_TTL_SECONDS: ttl })).toThrow(/VECTOR_CACHE_TTL_SECONDS/);
    }
    expect(() => loadConfig({ VECTOR_CACHE_TTL_SECONDS: '60', VECTOR_WARM_INTERVAL_SECONDS: '20' })).toThrow(
      /VECTOR_WARM_INTERVAL_SECONDS: must be under a third/,
    );
  });

  it('reads trusted proxies as a list of addresses or ranges, and refuses anything else', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,::1' }).http.trustedProxies).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
    ]);
    // IPv4-mapped forms are the IPv4 addresses they map (proxy-addr compares them so).
    expect(
      loadConfig({ TRUSTED_PROXIES: '::ffff:10.0.0.1,::ffff:10.0.0.0/104,2001:DB8::/32' }).http.trustedProxies,
    ).toEqual(['10.0.0.1', '10.0.0.0/8', '2001:db8::/32']);
    for (const bad of [
      'proxy.internal',
      '10.0.0.0/8/8',
      '*',
      '300.1.1.1',
      '10.0.0.0/33',
      '::1/129',
      '127.1',
      '10.0.0.1/x',
    ]) {
      expect(() => loadConfig({ TRUSTED_PROXIES: bad })).toThrow(/TRUSTED_PROXIES/);
    }
  });

  it('reads Redis Cluster seed nodes as IP addresses and ports, and refuses anything else', () => {
    expect(loadConfig({}).redis.clusterNodes).toBeUndefined();
    expect(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7001, 127.0.0.1:7002,[::1]:7003' }).redis.clusterNodes).toEqual(
      [
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '::1', port: 7003 },
      ],
    );
    for (const bad of [
      'redis.internal:7001',
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      ',',
      '127.0.0.1:7001,x',
      '[127.0.0.1:7001',
      '127.0.0.1]:7001',
      '[127.0.0.1]:7001',
      '::1:7001',
      '127.0.0.1:7001,127.0.0.1:7001',
    ]) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow(/REDIS_CLUSTER_NODES/);
    }
    // A cluster has only database 0.
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7001', REDIS_DB: '2' })).toThrow(
      /REDIS_CLUSTER_NODES: cannot be combined with REDIS_DB=2/,
    );
    // The cache may live in a Redis of its own beside the cluster.
    const apart = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7001', REDIS_CACHE_URL: 'redis://127.0.0.1:6380/2' });
    expect(cacheRedisSettings(apart.redis)).toMatchObject({
      clusterNodes: undefined,
      url: 'redis://127.0.0.1:6380/2',
      db: 2,
    });
  });

  it('reads values from the environment and treats empty ones as unset', () => {
    const config = loadConfig({ PORT: '8080', REDIS_ENABLED: 'true', DATABASE_POOL_MAX: '', NODE_ENV: 'production' });
    expect(config.http.port).toBe(8080);
    expect(config.redis.enabled).toBe(true);
    expect(config.database.pool.max).toBe(25);
    expect(config.isProduction).toBe(true);
  });

  it('names every invalid variable in one error', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_ENABLED: 'maybe', DATABASE_URL: 'mysql://db/x', REDIS_DB: '16' });
    } catch (error: unknown) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const { problems, message } = caught as ConfigError;
    expect(problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['PORT', 'REDIS_ENABLED', 'DATABASE_URL', 'REDIS_DB']),
    );
    expect(problems).toHaveLength(4);
    expect(message).toContain('"eighty"');
  });

  it('refuses more idle connections than the pool may hold', () => {
    expect(() => loadConfig({ DATABASE_POOL_MAX: '5', DATABASE_POOL_MIN_IDLE: '10' })).toThrow(
      /DATABASE_POOL_MIN_IDLE/,
    );
  });
});
