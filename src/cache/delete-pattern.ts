import type { Redis } from 'ioredis';

/** Keys deleted per UNLINK, and the SCAN page size. */
const DELETE_BATCH = 500;

/**
 * Deletes every key matching `pattern` (a glob that must include the prefix) with SCAN and
 * UNLINK in batches: never KEYS, which blocks Redis for the whole keyspace. Keys written while
 * it runs may survive. For operators (`make cache-flush`), not the request path. `keep` spares
 * matching keys it returns true for. Resolves to how many were deleted.
 */
export async function deleteKeysMatching(
  redis: Redis,
  pattern: string,
  options: { keep?: (key: string) => boolean } = {},
): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', DELETE_BATCH);
    cursor = next;
    const keys = options.keep ? found.filter((key) => !options.keep!(key)) : found;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
