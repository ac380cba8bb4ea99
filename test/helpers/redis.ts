import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config/config';
import { closeRedis, connectRedis, createRedis } from '../../src/platform/redis/connection';
import { createLogger } from '../../src/core/logger';
import { deleteKeysMatching } from '../../src/cache/delete-pattern';

/**
 * A key prefix of this test file's own on the machine's Redis: tests never flush a shared
 * Redis, they delete their own prefix when done.
 */
export function testKeyPrefix(): string {
  return `parley-test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes a test's keys (never a shared Redis' others): SCAN by prefix, UNLINK in batches. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  await deleteKeysMatching(redis, `${prefix}*`);
}

/** A connected command client with its own prefix; `drop()` deletes the prefix's keys and closes it. */
export async function connectTestRedis(env: Record<string, string> = {}): Promise<{
  redis: Redis;
  settings: Config['redis'];
  drop(): Promise<void>;
}> {
  const settings = loadConfig({ REDIS_ENABLED: 'true', REDIS_KEY_PREFIX: testKeyPrefix(), ...env }).redis;
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
