import { createRepos, type Repos } from './repos/repos';
import { DEMO_OWNER } from './cli/seeds/demo-content';
import type { ServerDeps } from './http/server-deps';
import { createRequestContext, type ContextDeps } from './graphql/request-context';
import type { SessionService } from './sessions/session-service';
import { createAuthService } from './auth/auth-service';
import { createPasswordHashing, type PasswordHashing } from './auth/password-hashing';
import { createDirectWritePath } from './chat/direct-write-path';
import type { Clients } from './platform/clients';
import type { Config } from './config/config';
import type { Logger } from './core/logger';
import { PubSub } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { createMessageStatusPubSub } from './pubsub/message-status-pubsub';
import { createBufferedWritePath } from './chat/buffered-write-path';
import { createPendingWrites, noPendingWrites } from './buffer/pending-writes';
import { createWriteBuffer } from './buffer/write-buffer';
import { createBufferShards } from './buffer/shards';
import { createEventLoopPressure } from './chat/event-loop-pressure';
import { createRateLimiter } from './rate-limits/rate-limiter';
import { createLocalEmbedder, type Embedder } from './search/embedder';
import { createRetriever, type Retriever } from './search/retriever';
import type { VectorCache } from './cache/vector-cache';
import { createCachedRetriever } from './search/cached-retriever';
import { batchChunkLoads, createChunkMemory } from './search/chunk-memory';
import { createMemoryRetriever } from './search/memory-retriever';
import { createCacheStats } from './cache/cache-stats';
import { createCacheLayer } from './cache/cache-layer';
import { createResponseCache } from './cache/response-cache';
import { createCacheKeys } from './platform/redis/keys';
import { createPostgresSessionStore } from './sessions/postgres-session-store';
import { withOutageGrace } from './sessions/outage-grace';
import { withSessionMemory } from './sessions/session-memory';
import { createRedisSessionStore } from './sessions/redis-session-store';
import { createSessionService } from './sessions/session-service';
import type { SessionStore } from './sessions/session-store';

/** How long a bot's first load waits for others to share its statement: a search waits this once per bot. */
const CHUNK_LOAD_WINDOW_MILLIS = 2;
/** Bots in one statement at most (up to CHUNK_MEMORY_BOT_MAX_CHUNKS rows each). */
const CHUNK_LOAD_MAX_BATCH = 20;

/**
 * What a process is for. The api subscribes (status events for its WebSockets, cache
 * invalidations for its L1) and warms the cache before it listens; the worker only publishes.
 */
export type Role = 'api' | 'worker';

/** Long-lived clients and services, built once per process and passed down. */
export interface AppDeps extends ServerDeps, ContextDeps {
  clients: Clients;
  repos: Repos;
  sessions: SessionService;
  sessionStore: SessionStore;
  /** Every password hash, through one queue fair between client addresses, on threads of its own. */
  passwordHashing: PasswordHashing;
  embedder: Embedder;
  /** The search retriever without its cache: what the worker's warmer recomputes results with. */
  uncachedRetriever: Retriever;
  /** Cached search results; absent in rollback mode. */
  vectors?: VectorCache;
  /** Starts what listens in the background (cache invalidations); after `clients.ready()`. */
  start(): Promise<void>;
  /** Stops it, letting cache writes in flight land; before the clients close. */
  stop(): Promise<void>;
}

/** Wires the stores behind their interfaces: which backend runs is decided here and nowhere else. */
/** Options of `createAppDeps`; tests set them. */
export interface AppOptions {
  /** The clock the write buffer reads intents' ages against; default Date.now. */
  now?: () => number;
}

export function createAppDeps(
  config: Config,
  log: Logger,
  clients: Clients,
  role: Role = 'api',
  options: AppOptions = {},
): AppDeps {
  // The durable Redis (buffer, sessions, limits, status events) and the cache's (all the rest):
  // one and the same unless REDIS_CACHE_URL is set (see clients.ts).
  const { db, redis, redisSubscriber, cacheRedis, cacheSubscriber } = clients;
  const repos = createRepos(db);
  const keys = createCacheKeys(config.redis.keyPrefix);
  // The worker's cache reads (its warmer's) are not visitors': they stay out of the shared hit rate.
  const cacheStats = createCacheStats({
    redis: role === 'api' ? cacheRedis : undefined,
    keys,
    log: log.child({ component: 'cache-stats' }),
  });
  const cache = createCacheLayer({
    config,
    log,
    keys,
    redis: cacheRedis,
    subscriber: cacheSubscriber,
    stats: cacheStats,
  });
  const redisSessions =
    redis &&
    withOutageGrace(createRedisSessionStore({ redis, keys }), {
      graceMillis: config.sessions.outageGraceSeconds * 1000,
    });
  // In memory only where ends are heard (the api), as the L1.
  const sessionStore = !redisSessions
    ? createPostgresSessionStore(db)
    : cache.entities && config.sessions.memorySeconds > 0
      ? withSessionMemory(redisSessions, {
          invalidation: cache.entities,
          sessionKey: keys.session,
          maxAgeMillis: config.sessions.memorySeconds * 1000,
        })
      : redisSessions;
  const sessions = createSessionService({ store: sessionStore, ttlSeconds: config.sessions.ttlSeconds });
  const passwordHashing = createPasswordHashing({
    settings: config.passwordHashing,
    log: log.child({ component: 'password-hashing' }),
  });
  const embedder = createLocalEmbedder({ dimension: config.embedding.dimension });
  const retriever = createRetriever({ embedder, chunks: repos.chunks });
  // Status events cross instances over the durable Redis' pub/sub, on the subscriber connection
  // the L1's invalidations use when the cache has no Redis of its own (RedisPubSub ignores
  // channels it did not subscribe to). A process without subscribers (the worker) only
  // publishes: RedisPubSub's subscriber side is then the command connection, left idle.
  const pubsub = createMessageStatusPubSub({
    engine: redis ? new RedisPubSub({ publisher: redis, subscriber: redisSubscriber ?? redis }) : new PubSub(),
    channelPrefix: config.redis.keyPrefix,
    log: log.child({ component: 'pubsub' }),
  });
  const direct = createDirectWritePath({ messages: repos.messages, pubsub });
  const bufferShards = createBufferShards(config.buffer.shards);
  const buffer = redis
    ? createWriteBuffer({
        redis,
        keys,
        shards: bufferShards,
        maxDepth: config.buffer.maxDepth,
        minReplicas: config.buffer.minReplicas,
        replicaTimeoutMillis: config.buffer.replicaTimeoutMillis,
        now: options.now,
      })
    : undefined;
  const eventLoopPressure = createEventLoopPressure(config.writeMaxEventLoopDelayMillis);
  // Chunks in memory first (only where invalidations reach: the api), then the vector cache, then PostgreSQL.
  const chunkMemory =
    cache.entities && config.chunkMemory.maxBytes > 0
      ? createChunkMemory({
          loadChunks: batchChunkLoads(repos.chunks, {
            botMaxChunks: config.chunkMemory.botMaxChunks,
            windowMillis: CHUNK_LOAD_WINDOW_MILLIS,
            maxBatch: CHUNK_LOAD_MAX_BATCH,
          }),
          feed: cache.entities,
          chunksKey: keys.botChunks,
          dimension: config.embedding.dimension,
          maxBytes: config.chunkMemory.maxBytes,
        })
      : undefined;
  const responseCache =
    cache.entities && config.responseCache.maxBytes > 0
      ? createResponseCache({ feed: cache.entities, maxBytes: config.responseCache.maxBytes })
      : undefined;
  const cachedRetriever = cache.vectors ? createCachedRetriever({ retriever, cache: cache.vectors }) : retriever;
  const deps: AppDeps = {
    config,
    contextFor: (request) => createRequestContext(deps, request),
    log,
    clients,
    db,
    repos,
    sessionStore,
    sessions,
    auth: createAuthService({ db, users: repos.users, sessions, passwords: passwordHashing }),
    passwordHashing,
    embedder,
    uncachedRetriever: retriever,
    vectors: cache.vectors,
    chunkMemory,
    responseCache,
    retriever: chunkMemory
      ? createMemoryRetriever({ embedder, memory: chunkMemory, fallback: cachedRetriever })
      : cachedRetriever,
    pubsub,
    writePath: buffer
      ? createBufferedWritePath({
          buffer,
          direct,
          messages: repos.messages,
          log: log.child({ component: 'write-buffer' }),
        })
      : direct,
    buffer,
    chatIds: bufferShards,
    pendingWrites: buffer
      ? createPendingWrites({ buffer, log: log.child({ component: 'write-buffer' }) })
      : noPendingWrites,
    eventLoopPressure,
    rateLimiter: createRateLimiter({
      redis,
      keys,
      settings: config.rateLimits,
      log: log.child({ component: 'rate-limits' }),
    }),
    cacheStats,
    demoOwnerEmail: DEMO_OWNER.email,
    cache: cache.entities && { entities: cache.entities, keys: cache.keys },
    invalidation: cache.invalidation,
    start: cache.start,
    async stop() {
      eventLoopPressure.stop();
      await passwordHashing.close();
      await cache.stop();
    },
  };
  return deps;
}
