import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../../src/platform/redis/connection';
import { loadConfig, type Config } from '../../src/config/config';
import { closeRedis, connectRedis, createRedis } from '../../src/platform/redis/connection';
import { createLogger } from '../../src/core/logger';
import { deleteKeysMatching } from '../../src/cache/delete-pattern';
import { startTcpProxy } from './tcp-proxy';
import { scanKeys } from '../../src/platform/redis/scan';

/**
 * A key prefix of this test file's own on the machine's Redis: tests never flush a shared
 * Redis, they delete their own prefix when done.
 */
export function testKeyPrefix(): string {
  return `parley-test:${randomBytes(6).toString('hex')}:`;
}

/**
 * The cluster the suite runs on (`npm run test:cluster`: TEST_REDIS_CLUSTER_NODES), or '' (one
 * Redis, REDIS_URL); also '' for a test that brings a Redis of its own (REDIS_URL or
 * REDIS_CACHE_URL in `env`).
 */
export function testClusterNodes(env: Record<string, string> = {}): string {
  return env.REDIS_URL || env.REDIS_CACHE_URL ? '' : (process.env.TEST_REDIS_CLUSTER_NODES ?? '');
}

/** The write buffer's shards in this run (TEST_BUFFER_SHARDS; npm run test:cluster: 16), default 1. */
export function testBufferShards(): string {
  return process.env.TEST_BUFFER_SHARDS ?? '1';
}

/** The environment that points a process at the Redis of `settings` (a spawned command-line tool). */
export function redisEnvOf(settings: Config['redis']): Record<string, string> {
  return {
    REDIS_URL: settings.url,
    REDIS_CLUSTER_NODES: settings.clusterNodes?.map(({ host, port }) => `${host}:${port}`).join(',') ?? '',
  };
}

/** Every key matching `pattern`, sorted: on a cluster, from every master. */
export async function keysMatching(redis: RedisClient, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const page of scanKeys(redis, pattern)) found.push(...page.keys);
  return found.sort();
}

/** Deletes a test's keys (never a shared Redis' others): SCAN by prefix, UNLINK in batches. */
export async function deleteKeysWithPrefix(redis: RedisClient, prefix: string): Promise<void> {
  await deleteKeysMatching(redis, `${prefix}*`);
}

/** A connected command client with its own prefix; `drop()` deletes the prefix's keys and closes it. */
export async function connectTestRedis(env: Record<string, string> = {}): Promise<{
  redis: RedisClient;
  settings: Config['redis'];
  drop(): Promise<void>;
}> {
  const settings = loadConfig({
    REDIS_ENABLED: 'true',
    REDIS_KEY_PREFIX: testKeyPrefix(),
    REDIS_CLUSTER_NODES: testClusterNodes(env),
    ...env,
  }).redis;
  const redis = createRedis(settings, createLogger({ name: 'test', level: 'silent', pretty: false }));
  await connectRedis(redis, settings);
  return {
    redis,
    settings,
    async drop() {
      await deleteKeysWithPrefix(redis, settings.keyPrefix);
      await closeRedis(redis);
    },
  };
}

/**
 * A connected client to a Redis that can get stuck: one Redis (whatever mode the suite runs
 * in) behind a loopback proxy whose `stall()` stops forwarding, as a Redis busy on a long
 * command. ioredis' own command timeout is far beyond any test, so only the caller's limit can
 * end a stuck command while the test runs; `close()` disconnects and stops the proxy.
 */
export async function connectThroughStallingProxy(): Promise<{
  redis: RedisClient;
  settings: Config['redis'];
  stall(): void;
  close(): Promise<void>;
}> {
  const probe = await connectTestRedis({ REDIS_URL: loadConfig({}).redis.url });
  await probe.drop();
  const upstream = new URL(probe.settings.url);
  const proxy = await startTcpProxy(upstream.hostname, Number(upstream.port || 6379));
  const settings = { ...probe.settings, url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMillis: 600_000 };
  const redis = createRedis(settings, createLogger({ name: 'test', level: 'silent', pretty: false }));
  await connectRedis(redis, settings);
  return {
    redis,
    settings,
    stall: () => proxy.stall(),
    async close() {
      redis.disconnect();
      await proxy.close();
    },
  };
}
