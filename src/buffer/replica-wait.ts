import type { Redis } from 'ioredis';
import { isCluster, type RedisClient } from '../platform/redis/connection';
import { slotNode } from '../platform/redis/scan';

/**
 * Redis' `WAIT numreplicas timeout`, shared by every push that needs it: a WAIT covers every
 * write its connection sent before it, so every push answered before a WAIT goes out shares it,
 * those answered later share the next, and one WAIT at a time holds the connection (WAIT
 * blocks it). Resolves to how many replicas acknowledged; a push trusts the buffer only when
 * that is enough.
 */
export function createReplicaWaiter(deps: {
  redis: RedisClient;
  /** A key of the buffer: on a cluster, the WAIT goes to the master that serves its slot. */
  key: string;
  replicas: number;
  timeoutMillis: number;
}): () => Promise<number> {
  const { redis } = deps;
  let slot: Promise<number> | undefined;
  const node = async (): Promise<Redis | RedisClient> => {
    if (!isCluster(redis)) return redis;
    slot ??= (redis.cluster('KEYSLOT', deps.key) as Promise<number>).catch((error: unknown) => {
      slot = undefined;
      throw error;
    });
    return slotNode(redis, await slot);
  };
  /** A WAIT about to be sent: pushes answered until it goes out join it, since it covers them. */
  let open: Promise<number> | undefined;
  /** The WAIT out on the connection: pushes answered now need the next one. */
  let sent: Promise<number> | undefined;
  const launch = (): Promise<number> => {
    const waiting = (async () => {
      // One at a time: WAIT blocks its connection, and the next one covers every push before it.
      if (sent) await sent.catch(() => undefined);
      const connection = await node();
      open = undefined;
      const reply = connection.wait(deps.replicas, deps.timeoutMillis);
      sent = reply;
      try {
        return await reply;
      } finally {
        if (sent === reply) sent = undefined;
      }
    })();
    open = waiting;
    // A failure before the WAIT went out must not leave it open for later pushes.
    waiting.catch(() => {
      if (open === waiting) open = undefined;
    });
    return waiting;
  };
  return () => open ?? launch();
}
