import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../../config/config';
import type { Logger } from '../../core/logger';
import { StartupError } from '../../core/errors';

/** The longest wait between reconnect attempts: Redis back after a restart is found within this. */
const MAX_RECONNECT_DELAY_MILLIS = 5_000;
const QUIT_TIMEOUT_MILLIS = 2_000;

/**
 * A connection to Parley's Redis: one node (REDIS_URL) or a Redis Cluster
 * (REDIS_CLUSTER_NODES). Both run the same commands; on a cluster every command's keys must
 * share one slot, which Parley's keys arrange with hash tags (platform/redis/keys.ts).
 */
export type RedisClient = Redis | Cluster;

/** `host:port` of one server's connection (a cluster node, or the one Redis). */
export const nodeAddress = (node: Redis): string => `${node.options.host}:${node.options.port}`;

/** Whether `redis` is a cluster client: SCAN and multi-key commands then go node by node or slot by slot. */
export const isCluster = (redis: RedisClient): redis is Cluster => redis instanceof Cluster;

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
  // One Redis, even beside a durable cluster: the cache may live apart from it.
  return {
    ...settings,
    clusterNodes: undefined,
    url: settings.cacheUrl,
    password: '',
    db: Number.isInteger(db) ? db : 0,
  };
}

/**
 * One Redis connection for `role`. Commands multiplex over it (auto-pipelining); a
 * subscriber and a connection for blocking commands each need their own, since either
 * holds its connection. Commands fail fast while disconnected (no offline queue): the cache
 * falls through to PostgreSQL instead of queueing requests behind a dead Redis, and
 * reconnection goes on in the background with a bounded back-off.
 */
export function createRedis(settings: Config['redis'], log: Logger, role: RedisRole = 'commands'): RedisClient {
  const redisLog = log.child({ component: 'redis', role });
  // A cache connection runs commands like the durable one: failing fast is what lets a read fall through.
  const commands = role === 'commands' || role === 'cache';
  const retryStrategy = (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MILLIS);
  const options: RedisOptions = {
    password: settings.password || undefined,
    connectionName: `parley-${role}`,
    connectTimeout: settings.connectTimeoutMillis,
    // Blocking commands wait on purpose; a command timeout would cut them off.
    commandTimeout: role === 'blocking' ? undefined : settings.commandTimeoutMillis,
    maxRetriesPerRequest: commands ? 1 : null,
  };
  // A subscriber stays one plain connection even in cluster mode: a cluster forwards every
  // PUBLISH to every node, so any node will do, and a plain connection says when it drops
  // ('close', 'ready'), which the L1 needs to stop trusting itself; a Cluster client moves its
  // hidden subscriber to another node without a word, and messages published meanwhile are lost.
  const subscriber = role === 'subscriber' || role === 'cache-subscriber';
  const seed = settings.clusterNodes?.[0];
  const redis: RedisClient =
    settings.clusterNodes && !subscriber
      ? new Cluster(settings.clusterNodes, {
          redisOptions: options,
          enableOfflineQueue: !commands,
          // Batches per node; a command that moves (MOVED/ASK during fail-over or resharding) is
          // redirected by the client, not taken for an outage.
          enableAutoPipelining: commands,
          // Its own list (defineScripts adds to it): the default is one array shared by every client.
          autoPipeliningIgnoredCommands: [],
          lazyConnect: true,
          clusterRetryStrategy: retryStrategy,
          // The nodes announce IP addresses; nothing here resolves a name.
          dnsLookup: (address, callback) => callback(null, address),
          slotsRefreshTimeout: settings.connectTimeoutMillis,
        })
      : createOneRedis(seed, settings.url, {
          ...options,
          db: settings.db,
          enableOfflineQueue: !commands,
          enableAutoPipelining: commands,
          lazyConnect: true,
          retryStrategy,
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

/** One server's connection: to a cluster node by address, or to the Redis at `url`. */
const createOneRedis = (node: { host: string; port: number } | undefined, url: string, options: RedisOptions) =>
  node ? new Redis(node.port, node.host, options) : new Redis(url, options);

/** Where `settings` point, for messages: the URL's host and port, or the cluster's seed nodes. */
function describeRedis(settings: Config['redis']): string {
  if (settings.clusterNodes)
    return `Redis Cluster at ${settings.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const url = new URL(settings.url);
  return `Redis at ${url.hostname}:${url.port || 6379}`;
}

/** The variable that names the Redis of `settings`: the cache's own, or the durable one. */
const urlSetting = (settings: Config['redis']) =>
  settings.cacheUrl !== undefined && settings.url === settings.cacheUrl ? 'REDIS_CACHE_URL' : 'REDIS_URL';

/**
 * Connects and answers PING within the connect timeout, or throws a readable error; also
 * when the server is not what the settings say: a cluster node reached as one Redis would
 * answer MOVED for most keys, and a lone Redis cannot serve a cluster client.
 */
export async function connectRedis(redis: RedisClient, settings: Config['redis']): Promise<void> {
  const where = describeRedis(settings);
  let clusterEnabled: boolean;
  try {
    if (redis.status === 'wait') await redis.connect();
    await redis.ping();
    clusterEnabled = /^cluster_enabled:1\b/m.test(await redis.info('cluster'));
  } catch (error: unknown) {
    const message = (error as Error).message;
    const lone = isCluster(redis) && (await seedsNotInCluster(settings)).length > 0;
    throw new StartupError(
      lone
        ? `${where} answers but is not a cluster (${message}); set REDIS_URL and unset REDIS_CLUSTER_NODES, or point REDIS_CLUSTER_NODES at cluster nodes`
        : `${where} did not answer (${message}); start it, or set REDIS_ENABLED=false`,
      { cause: error },
    );
  }
  // In cluster mode a subscriber is a plain connection to a node on purpose (createRedis).
  if (clusterEnabled && !isCluster(redis) && !settings.clusterNodes) {
    throw new StartupError(
      urlSetting(settings) === 'REDIS_CACHE_URL'
        ? `${where} is a Redis Cluster node: REDIS_CACHE_URL must name one Redis (unset it to keep the cache in the cluster)`
        : `${where} is a Redis Cluster node: set REDIS_CLUSTER_NODES to the cluster's nodes (host:port,…) instead of REDIS_URL`,
    );
  }
}

/**
 * The seed nodes that answer as a lone Redis (cluster support disabled): a cluster client
 * reports them only as "none of the startup nodes is available", which sends an operator
 * looking for a server that is in fact up.
 */
async function seedsNotInCluster(settings: Config['redis']): Promise<string[]> {
  const lone: string[] = [];
  for (const { host, port } of settings.clusterNodes ?? []) {
    const probe = new Redis({
      host,
      port,
      password: settings.password || undefined,
      connectTimeout: settings.connectTimeoutMillis,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Its failure is the answer; without a listener ioredis would print it as unhandled.
    probe.on('error', () => {});
    try {
      await probe.connect();
      if (/^cluster_enabled:0\b/m.test(await probe.info('cluster'))) lone.push(`${host}:${port}`);
    } catch {
      // Down or refusing: the connect error already says so.
    } finally {
      probe.disconnect();
    }
  }
  return lone;
}

/** QUIT lets pending replies arrive; DISCONNECT afterwards (or after a timeout) releases the socket for sure. */
export async function closeRedis(redis: RedisClient): Promise<void> {
  // A cluster client whose first connect failed holds no node connection, and never says 'end'.
  if (redis.status === 'end' || redis.status === 'wait' || (isCluster(redis) && redis.nodes().length === 0)) {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  // Resolved once the client has let go of every socket: QUIT's reply comes before that, and a
  // cluster client closes its node connections after.
  const ended = new Promise((resolve) => redis.once('end', resolve));
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
  // Not unref'd: a process closing its clients must not exit before its error is printed.
  let endTimer: NodeJS.Timeout | undefined;
  await Promise.race([ended, new Promise((resolve) => (endTimer = setTimeout(resolve, QUIT_TIMEOUT_MILLIS)))]);
  clearTimeout(endTimer);
}
