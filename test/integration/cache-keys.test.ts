import type { Redis } from 'ioredis';
import type { RedisClient } from '../../src/platform/redis/connection';
import { deleteKeysMatching } from '../../src/cache/delete-pattern';
import { fromCacheJson, toCacheJson } from '../../src/platform/redis/json';
import { createCacheKeys, type CacheKeys } from '../../src/platform/redis/keys';
import { closeRedis, connectRedis, createRedis } from '../../src/platform/redis/connection';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { connectTestRedis } from '../helpers/redis';
import { startRedisServer, stopRedisServers } from '../helpers/redis-server';

describe('cache keys and values (real Redis, this file its own prefix)', () => {
  let redis: RedisClient;
  let drop: () => Promise<void>;
  let keys: CacheKeys;

  beforeAll(async () => {
    const connection = await connectTestRedis();
    ({ redis, drop } = connection);
    keys = createCacheKeys(connection.settings.keyPrefix);
  });
  afterAll(() => drop());

  it('round-trips JSON with dates kept as dates, and text that only looks like one', async () => {
    const bot = {
      id: 'b-1',
      name: '2026-01-01T00:00:00.000Z',
      description: { $date: 'not alone', other: 1 },
      createdAt: new Date('2026-11-26T09:32:18.123Z'),
      tags: [new Date(0), null],
    };
    await redis.set(keys.bot('b-1'), toCacheJson(bot), 'EX', 60);
    const back = fromCacheJson<typeof bot>((await redis.get(keys.bot('b-1')))!);
    expect(back).toEqual(bot);
    expect(back.createdAt).toBeInstanceOf(Date);
    expect(typeof back.name).toBe('string');
  });

  it('deletes a pattern in batches with SCAN, and nothing outside it', async () => {
    // A Redis of this test's own: MONITOR there shows only the commands this test causes.
    const server = await startRedisServer();
    const settings = loadConfig({ REDIS_ENABLED: 'true', REDIS_URL: server.url }).redis;
    // One node (REDIS_URL), whatever mode the suite runs in: MONITOR is a single server's.
    const own = createRedis(settings, createLogger({ name: 'test', level: 'silent', pretty: false })) as Redis;
    try {
      await connectRedis(own, settings);
      const pipeline = own.pipeline();
      for (let i = 0; i < 1_234; i++) pipeline.set(keys.source(`s-${i}`), 'x', 'EX', 60);
      pipeline.set(keys.bot('kept'), 'x', 'EX', 60);
      await pipeline.exec();
      const feed = await own.monitor();
      const commands: string[] = [];
      feed.on('monitor', (_time, args: string[]) => commands.push(args[0]!));
      try {
        expect(await deleteKeysMatching(own, `${keys.prefix}source:*`)).toBe(1_234);
      } finally {
        feed.disconnect();
      }
      expect(commands.map((c) => c.toLowerCase())).not.toContain('keys');
      expect(commands.filter((c) => c.toLowerCase() === 'unlink').length).toBeGreaterThan(1);
      expect(await own.exists(keys.bot('kept'))).toBe(1);
      expect(await own.exists(keys.source('s-7'))).toBe(0);
    } finally {
      await closeRedis(own);
      await stopRedisServers();
    }
  });

  it('builds every key under the prefix, with the id as the cluster hash tag', () => {
    const prefixed = createCacheKeys('tenant-a:');
    expect(prefixed.bot('42')).toBe('tenant-a:bot:{42}');
    expect(prefixed.botsByUser('7')).toBe('tenant-a:bots:user:{7}');
    expect(prefixed.session('abc')).toBe('tenant-a:session:{abc}');
    expect(prefixed.vector('42', 3, 'q')).toBe('tenant-a:vector:{42}:3:q');
    expect(prefixed.generation(prefixed.bot('42'))).toBe('tenant-a:bot:{42}:gen');
    for (const pattern of prefixed.cachePatterns()) expect(pattern.startsWith('tenant-a:')).toBe(true);
  });
});

describe('Redis client', () => {
  const log = createLogger({ name: 'test', level: 'silent', pretty: false });

  it('fails start-up with a readable error when Redis does not answer, within the connect timeout', async () => {
    const settings = loadConfig({
      REDIS_ENABLED: 'true',
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_CONNECT_TIMEOUT_MILLIS: '500',
    }).redis;
    const redis = createRedis(settings, log);
    try {
      await expect(connectRedis(redis, settings)).rejects.toThrow(
        /Redis at 127\.0\.0\.1:1 did not answer .*REDIS_ENABLED=false/,
      );
    } finally {
      await closeRedis(redis);
    }
  });

  it('fails a command at once while disconnected instead of queueing it', async () => {
    const { redis, drop } = await connectTestRedis();
    await drop();
    await expect(redis.get('anything')).rejects.toThrow();
  });
});
