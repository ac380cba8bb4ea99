import { isCluster, type RedisClient } from '../platform/redis/connection';
import { scanKeys } from '../platform/redis/scan';

/**
 * Deletes every key matching `pattern` (a glob that must include the prefix) with SCAN and
 * UNLINK in batches, on every master of a cluster. Keys written while it runs may survive.
 * For operators (`make cache-flush`), not the request path. `keep` spares matching keys it
 * returns true for. Resolves to how many were deleted.
 */
export async function deleteKeysMatching(
  redis: RedisClient,
  pattern: string,
  options: { keep?: (key: string) => boolean } = {},
): Promise<number> {
  let deleted = 0;
  for await (const page of scanKeys(redis, pattern)) {
    const keys = options.keep ? page.keys.filter((key) => !options.keep!(key)) : page.keys;
    if (keys.length === 0) continue;
    if (!isCluster(redis)) {
      deleted += await page.node.unlink(...keys);
      continue;
    }
    // A cluster node refuses one UNLINK over keys of several slots: one UNLINK a key, pipelined.
    const replies = (await page.node.pipeline(keys.map((key) => ['unlink', key])).exec()) ?? [];
    for (const [error, count] of replies) if (!error) deleted += Number(count);
  }
  return deleted;
}
