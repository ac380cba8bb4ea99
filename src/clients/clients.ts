import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../logger';
import { createDb, type Db } from './postgres';
import { closeRedis, connectRedis, createRedis } from './redis';

/** The long-lived connections of a process, built once at start-up and passed down. */
export interface Clients {
  db: Db;
  /** Commands (cache, sessions); absent in rollback mode (`REDIS_ENABLED=false`). */
  redis?: Redis;
  /** Subscriptions (cache invalidations): a subscribed connection can run nothing else. */
  redisSubscriber?: Redis;
  /** Connects what connects lazily and checks it answers; start-up fails with a readable error otherwise. */
  ready(): Promise<void>;
  /** Closes every client, each step even if an earlier one fails; rejects with the first failure. */
  close(): Promise<void>;
}

/** One place builds the clients for the api, the worker and the tests. */
/** @param options.subscriber whether the process listens on pub/sub (the api's L1 does; the worker only publishes). Default true. */
export function createClients(config: Config, log: Logger, options: { subscriber?: boolean } = {}): Clients {
  const db = createDb(config.database, log);
  const redis = config.redis.enabled ? createRedis(config.redis, log) : undefined;
  const redisSubscriber =
    config.redis.enabled && (options.subscriber ?? true) ? createRedis(config.redis, log, 'subscriber') : undefined;
  return {
    db,
    redis,
    redisSubscriber,
    async ready() {
      if (redis) await connectRedis(redis, config.redis);
      if (redisSubscriber) await connectRedis(redisSubscriber, config.redis);
    },
    async close() {
      const results = await Promise.allSettled([
        db.destroy(),
        redis ? closeRedis(redis) : undefined,
        redisSubscriber ? closeRedis(redisSubscriber) : undefined,
      ]);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
