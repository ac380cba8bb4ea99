import { Redis } from 'ioredis';
import type { Config } from '../../config/config';
import type { Logger } from '../../core/logger';
import { StartupError } from '../../core/errors';

/** The longest wait between reconnect attempts: Redis back after a restart is found within this. */
const MAX_RECONNECT_DELAY_MILLIS = 5_000;
const QUIT_TIMEOUT_MILLIS = 2_000;

/**
 * What a connection is for. `commands` and `subscriber` go to the durable Redis (REDIS_URL);
 * `cache` and `cache-subscriber` to the cache's (REDIS_CACHE_URL), and are the same as those
 * two when the cache has no Redis of its own. The role names the connection in CLIENT LIST.
 */
export type RedisRole = 'commands' | 'subscriber' | 'blocking' | 'cache' | 'cache-subscriber';

/**
 * The settings of the cache's own Redis: REDIS_CACHE_URL, with its password and database
 * number from the URL (`redis://:secret@host:6379/2`), not REDIS_PASSWORD and REDIS_DB, which
 * belong to REDIS_URL. Undefined when the cache lives in the durable Redis.
 */
export function cacheRedisSettings(settings: Config['redis']): Config['redis'] | undefined {
  if (settings.cacheUrl === undefined) return undefined;
  const db = Number(new URL(settings.cacheUrl).pathname.slice(1) || 0);
  return { ...settings, url: settings.cacheUrl, password: '', db: Number.isInteger(db) ? db : 0 };
}

/**
 * One Redis connection for `role`. Commands multiplex over it (auto-pipelining); a
 * subscriber and a connection for blocking commands each need their own, since either
 * holds its connection. Commands fail fast while disconnected (no offline queue): the cache
 * falls through to PostgreSQL instead of queueing requests behind a dead Redis, and
 * reconnection goes on in the background with a bounded back-off.
 */
export function createRedis(settings: Config['redis'], log: Logger, role: RedisRole = 'commands'): Redis {
  const redisLog = log.child({ component: 'redis', role });
  // A cache connection runs commands like the durable one: failing fast is what lets a read fall through.
  const commands = role === 'commands' || role === 'cache';
  const redis = new Redis(settings.url, {
    password: settings.password || undefined,
    db: settings.db,
    connectionName: `parley-${role}`,
    connectTimeout: settings.connectTimeoutMillis,
    // Blocking commands wait on purpose; a command timeout would cut them off.
    commandTimeout: role === 'blocking' ? undefined : settings.commandTimeoutMillis,
    maxRetriesPerRequest: commands ? 1 : null,
    enableOfflineQueue: !commands,
    enableAutoPipelining: commands,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MILLIS),
  });
  let connected = false;
  redis.on('ready', () => {
    if (!connected) redisLog.info('redis connected');
    connected = true;
  });
  redis.on('error', (error: Error) => {
    // ioredis reports every failed reconnect; one line per outage is enough.
    if (connected) redisLog.warn({ err: error }, 'redis connection lost; reconnecting');
    connected = false;
  });
  return redis;
}

/** Connects and answers PING within the connect timeout, or throws a readable error. */
export async function connectRedis(redis: Redis, settings: Config['redis']): Promise<void> {
  const url = new URL(settings.url);
  try {
    if (redis.status === 'wait') await redis.connect();
    await redis.ping();
  } catch (error: unknown) {
    throw new StartupError(
      `Redis at ${url.hostname}:${url.port || 6379} did not answer (${(error as Error).message}); start it, or set REDIS_ENABLED=false`,
      { cause: error },
    );
  }
}

/** QUIT lets pending replies arrive; DISCONNECT afterwards (or after a timeout) releases the socket for sure. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end' || redis.status === 'wait') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, QUIT_TIMEOUT_MILLIS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
