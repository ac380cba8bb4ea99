import { deleteKeysMatching } from '../cache/delete-pattern';
import { createCacheKeys } from '../platform/redis/keys';
import { runTool } from './run-tool';

/**
 * `npm run cache:flush` (`make cache-flush`): deletes this deployment's cache keys
 * (`REDIS_KEY_PREFIX` + the patterns of `keys.cachePatterns()`) with SCAN + UNLINK. Sessions,
 * the write buffer, the counters and every other deployment's keys stay. Readers refill the
 * cache from PostgreSQL; an instance's L1 forgets its copies within its TTL. Runs on the
 * cache's Redis: REDIS_CACHE_URL when set, else REDIS_URL, whatever REDIS_ENABLED says.
 */
runTool('cache-flush', async ({ config, log, cacheRedis }) => {
  const redis = await cacheRedis();
  let deleted = 0;
  for (const pattern of createCacheKeys(config.redis.keyPrefix).cachePatterns()) {
    // Generation keys stay: one deleted while a loader reads the database could let that
    // loader write a value back that an invalidation had already dropped.
    const count = await deleteKeysMatching(redis, pattern, { keep: (key) => key.endsWith(':gen') });
    log.debug({ pattern, deleted: count }, 'pattern flushed');
    deleted += count;
  }
  // The result is the command's output, whatever the log level.
  process.stdout.write(`Deleted ${deleted} cache keys under "${config.redis.keyPrefix}".\n`);
});
