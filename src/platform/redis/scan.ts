import type { Cluster, Redis } from 'ioredis';
import { isCluster, nodeAddress, type RedisClient } from './connection';

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

/**
 * The connection to the master that serves `slot` now (the client follows fail-overs): for a
 * command that must run on the node a key lives on, such as WAIT after a write there. The slot
 * of a key is Redis' to say (`CLUSTER KEYSLOT`).
 */
export function slotNode(cluster: Cluster, slot: number): Redis {
  const [master] = cluster.slots[slot] ?? [];
  const node = cluster.nodes('master').find((candidate) => nodeAddress(candidate) === master);
  if (!node) throw new Error(`No master is known for slot ${slot}`);
  return node;
}
