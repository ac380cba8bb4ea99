import { StartupError } from '../core/errors';
import type { RedisClient } from '../platform/redis/connection';
import type { CacheKeys } from '../platform/redis/keys';
import { createBufferShards, type BufferShards } from './shards';

/**
 * Makes sure this process reads and writes the buffer in the layout its intents were written
 * in. A conversation's shard is computed from its id and the shard count, so a process
 * started with another BUFFER_SHARDS would look for intents where they are not, and its
 * workers would never flush the shards the old count used: acknowledged sends stranded. The
 * count is recorded in Redis; another one is taken up only once the old layout holds nothing
 * (no intent waiting, claimed or dead-lettered). Before any count was recorded, the
 * buffer had one shard, the `{buffer}` layout of every earlier release.
 */
export async function adoptBufferLayout(deps: {
  redis: RedisClient;
  keys: CacheKeys;
  shards: BufferShards;
}): Promise<void> {
  const { redis, keys, shards } = deps;
  const recorded = await redis.get(keys.bufferLayout());
  const before = recorded === null ? 1 : Number(recorded);
  if (before !== shards.count) {
    const held = await intentsHeld(redis, keys, createBufferShards(before));
    if (held > 0) {
      throw new StartupError(
        `The write buffer holds ${held} intents (waiting, claimed or dead-lettered) written with BUFFER_SHARDS=${before}, and this process ` +
          `has BUFFER_SHARDS=${shards.count}. Start it with BUFFER_SHARDS=${before}; to change the count, stop the apis, ` +
          'let the workers drain the buffer and replay or drop its dead letters (make dlq), then restart everything with the new count.',
      );
    }
  }
  if (recorded === null || before !== shards.count) await redis.set(keys.bufferLayout(), String(shards.count));
}

/** Intents waiting, claimed or dead-lettered across a layout's shards. */
async function intentsHeld(redis: RedisClient, keys: CacheKeys, shards: BufferShards): Promise<number> {
  const counts = await Promise.all(
    shards.tags.map(async (tag) => {
      const shard = keys.bufferShard(tag);
      // A claim registered by an idle or stopped worker holds nothing: its list is what counts.
      const claimIds = await redis.zrange(shard.claims(), 0, -1);
      const [pending, dead, ...claimed] = await Promise.all([
        redis.llen(shard.pending()),
        redis.hlen(shard.dead()),
        ...claimIds.map((claimId) => redis.llen(shard.claim(claimId))),
      ]);
      return pending + dead + claimed.reduce((sum, count) => sum + count, 0);
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
