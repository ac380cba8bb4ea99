import type { RedisClient } from './platform/redis/connection';
import { createAppDeps, type AppDeps, type AppOptions, type Role } from './app-deps';
import type { Config } from './config/config';
import type { Logger } from './core/logger';
import { warmUpCache } from './loaders/warm-up';
import { createClients } from './platform/clients';
import { connectPostgres, createDb, type Db } from './platform/postgres/connection';
import {
  cacheRedisSettings,
  closeRedis,
  connectRedis,
  createRedis,
  isCluster,
  nodeAddress,
} from './platform/redis/connection';
import { assertEmbeddingDimension } from './platform/postgres/schema-check';
import { checkBufferDurability } from './platform/redis/durability';
import { runSteps, type ShutdownStep } from './shutdown';

export interface Runtime {
  app: AppDeps;
  /** How to take it down, in order (the reverse of start-up): for `onShutdown`, after the process's own steps. */
  releaseSteps: ShutdownStep[];
  /** Runs every release step, each even if an earlier one failed; rejects with the first failure. */
  release(): Promise<void>;
}

/**
 * The one composition root: builds and starts what a process runs on, as the api
 * (src/main.ts), the worker (worker/main.ts) and the tests' app all start: clients connected
 * and their scripts loaded, the schema checked, the buffer's Redis checked for what it could
 * lose, the stores wired (createAppDeps), the cache's listeners started, and for the api the
 * cache warmed. A failed step releases what the earlier ones made before the error goes on.
 */
export async function startRuntime(
  config: Config,
  log: Logger,
  role: Role,
  options: AppOptions = {},
): Promise<Runtime> {
  const releaseSteps: ShutdownStep[] = [];
  const release = () => runSteps(releaseSteps);
  try {
    const clients = createClients(config, log, { subscriber: role === 'api' });
    releaseSteps.unshift({ name: 'clients', run: () => clients.close() });
    await clients.ready();
    await assertEmbeddingDimension(clients.db, config.embedding.dimension);
    if (clients.redis) {
      // Acknowledged sends live only in Redis until a worker stores them: say at start-up what
      // this Redis could lose. A warning, not a refusal: rollback mode is the way off Redis.
      // On a cluster, each master holds its own shards of the buffer: each is checked.
      for (const node of isCluster(clients.redis) ? clients.redis.nodes('master') : [clients.redis]) {
        await checkBufferDurability(node, log.child({ component: 'redis-durability', node: nodeAddress(node) }));
      }
    }
    const app = createAppDeps(config, log, clients, role, options);
    await app.buffer?.adoptLayout();
    await app.start();
    releaseSteps.unshift({ name: 'cache', run: () => app.stop() });
    releaseSteps.unshift({ name: 'cache-stats', run: () => app.cacheStats.stop() });
    if (role === 'api' && app.cache) {
      await warmUpCache({ repos: app.repos, cache: app.cache, log: log.child({ component: 'cache' }) });
    }
    return { app, releaseSteps, release };
  } catch (error: unknown) {
    // The start-up error is the one worth seeing; a failed release step does not hide it.
    await release().catch(() => {});
    throw error;
  }
}

/**
 * What a command-line tool runs on, from the same composition root: each connection is made
 * on first use (a usage error needs none), and `release` closes what was made. PostgreSQL is
 * a pool of two connections, since a script needs no more. The Redis connections are made
 * whatever REDIS_ENABLED says: dead letters outlive a switch to rollback mode, and an
 * operator may flush the cache before turning it (back) on.
 */
export interface ToolRuntime {
  db(): Promise<Db>;
  /** The durable Redis (REDIS_URL): the write buffer and its dead letters. */
  redis(): Promise<RedisClient>;
  /** The cache's Redis: REDIS_CACHE_URL when set, else REDIS_URL. */
  cacheRedis(): Promise<RedisClient>;
  release(): Promise<void>;
}

export function createToolRuntime(config: Config, log: Logger): ToolRuntime {
  const releaseSteps: ShutdownStep[] = [];
  /** Makes a connection once, on first use, with its release step; a failed connect is released too. */
  const lazily = <T>(
    name: string,
    open: () => T,
    connect: (made: T) => Promise<void>,
    close: (made: T) => Promise<void>,
  ) => {
    let opened: Promise<T> | undefined;
    return () =>
      (opened ??= (async () => {
        const made = open();
        releaseSteps.unshift({ name, run: () => close(made) });
        await connect(made);
        return made;
      })());
  };
  const cacheSettings = cacheRedisSettings(config.redis) ?? config.redis;
  return {
    db: lazily(
      'postgres',
      () => createDb({ ...config.database, pool: { ...config.database.pool, minIdle: 0, max: 2 } }, log),
      (db) => connectPostgres(db, config.database.url),
      (db) => db.destroy(),
    ),
    redis: lazily(
      'redis',
      () => createRedis(config.redis, log),
      (redis) => connectRedis(redis, config.redis),
      closeRedis,
    ),
    cacheRedis: lazily(
      'cache-redis',
      () => createRedis(cacheSettings, log, 'cache'),
      (redis) => connectRedis(redis, cacheSettings),
      closeRedis,
    ),
    release: () => runSteps(releaseSteps),
  };
}
