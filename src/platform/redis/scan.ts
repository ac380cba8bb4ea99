import type { Redis } from 'ioredis';
import { isCluster, type RedisClient } from './connection';

/**
 * Every key matching `pattern`, a SCAN page at a time (never KEYS, which blocks Redis for the
 * whole keyspace), with the node that holds them: on a cluster, each master in turn, since
 * each holds only its own slots. Keys written meanwhile may be missed. For operators and
 * tests, not the request path.
 */
export async function* scanKeys(
  redis: RedisClient,
  pattern: string,
  pageSize = 500,
): AsyncGenerator<{ node: Redis; keys: string[] }> {
  for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', pageSize);
      cursor = next;
      if (keys.length > 0) yield { node, keys };
    } while (cursor !== '0');
  }
}
