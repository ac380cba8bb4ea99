import { createAuthService, type AuthService } from './auth/auth-service';
import { createPasswordHashing, type PasswordHashing } from './auth/password-hashing';
import { createDirectWritePath } from './chat/direct-write-path';
import type { ChatWritePath } from './chat/write-path';
import type { Clients } from './clients/clients';
import type { Db } from './clients/postgres';
import type { Config } from './config/config';
import type { Logger } from './logger';
import { PubSub } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { createMessageStatusPubSub, type MessageStatusPubSub } from './pubsub/message-status-pubsub';
import { createBufferedWritePath } from './buffer/buffered-write-path';
import { createPendingWrites, noPendingWrites, type PendingWrites } from './buffer/pending-writes';
import { createWriteBuffer, type WriteBuffer } from './buffer/write-buffer';
import { createEventLoopPressure, type EventLoopPressure } from './chat/event-loop-pressure';
import { createRateLimiter, type RateLimiter } from './rate-limits/rate-limiter';
import { createBotsRepo } from './repos/bots';
import { createChunksRepo } from './repos/chunks';
import { createConversationsRepo } from './repos/conversations';
import { createMessagesRepo } from './repos/messages';
import { createSourcesRepo } from './repos/sources';
import { createUsersRepo } from './repos/users';
import { createLocalEmbedder, type Embedder } from './search/embedder';
import { createRetriever, type Retriever } from './search/retriever';
import { createCachedRetriever } from './search/cached-retriever';
import { createCacheStats, type CacheStatsCollector } from './cache/cache-stats';
import { createCacheLayer } from './cache/cache-layer';
import type { EntityCache } from './cache/entity-cache';
import type { CacheInvalidation } from './cache/invalidation';
import { createCacheKeys, type CacheKeys } from './cache/keys';
import { createPostgresSessionStore } from './sessions/postgres-session-store';
import { withOutageGrace } from './sessions/outage-grace';
import { createRedisSessionStore } from './sessions/redis-session-store';
import { createSessionService, type SessionService } from './sessions/session-service';
import type { SessionStore } from './sessions/session-store';

export type Repos = ReturnType<typeof createRepos>;

export function createRepos(db: Db) {
  return {
    users: createUsersRepo(db),
    bots: createBotsRepo(db),
    sources: createSourcesRepo(db),
    chunks: createChunksRepo(db),
    conversations: createConversationsRepo(db),
    messages: createMessagesRepo(db),
  };
}

/** Long-lived clients and services, built once per process and passed down. */
export interface AppDeps {
  config: Config;
  log: Logger;
  clients: Clients;
  db: Db;
  repos: Repos;
  sessionStore: SessionStore;
  sessions: SessionService;
  auth: AuthService;
  /** Every password hash, through one queue fair between client addresses, on threads of its own. */
  passwordHashing: PasswordHashing;
  embedder: Embedder;
  retriever: Retriever;
  pubsub: MessageStatusPubSub;
  writePath: ChatWritePath;
  /** The Redis write buffer sends go to; absent in rollback mode. */
  buffer?: WriteBuffer;
  /** What reads add from sends not yet stored (read-your-writes); nothing in rollback mode. */
  pendingWrites: PendingWrites;
  /** Refuses sends while the event loop lags. */
  eventLoopPressure: EventLoopPressure;
  /** The sliding-window counters behind `@rateLimit`, uploads and subscribing. */
  rateLimiter: RateLimiter;
  /** Cache hits and misses; summed across instances in Redis, this process's only in rollback mode. */
  cacheStats: CacheStatsCollector;
  /** The entity cache the loaders read through; absent in rollback mode. */
  cache?: { entities: EntityCache; keys: CacheKeys };
  /** Told of every committed change, so no cache serves what it replaced. */
  invalidation: CacheInvalidation;
  /** Starts what listens in the background (cache invalidations); after `clients.ready()`. */
  start(): Promise<void>;
  /** Stops it, letting cache writes in flight land; before the clients close. */
  stop(): Promise<void>;
}

/** Wires the stores behind their interfaces: which backend runs is decided here and nowhere else. */
export function createAppDeps(config: Config, log: Logger, clients: Clients): AppDeps {
  // The durable Redis (buffer, sessions, limits, status events) and the cache's (all the rest):
  // one and the same unless REDIS_CACHE_URL is set (see clients.ts).
  const { db, redis, redisSubscriber, cacheRedis, cacheSubscriber } = clients;
  const repos = createRepos(db);
  const keys = createCacheKeys(config.redis.keyPrefix);
  const cacheStats = createCacheStats({ redis: cacheRedis, keys, log: log.child({ component: 'cache-stats' }) });
  const cache = createCacheLayer({ config, log, redis: cacheRedis, subscriber: cacheSubscriber, stats: cacheStats });
  const sessionStore = redis
    ? withOutageGrace(createRedisSessionStore({ redis, keys }), {
        graceMillis: config.sessions.outageGraceSeconds * 1000,
      })
    : createPostgresSessionStore(db);
  const sessions = createSessionService({ store: sessionStore, ttlSeconds: config.sessions.ttlSeconds });
  const passwordHashing = createPasswordHashing({
    settings: config.passwordHashing,
    log: log.child({ component: 'password-hashing' }),
  });
  const embedder = createLocalEmbedder({ dimension: config.embedding.dimension });
  const retriever = createRetriever({ embedder, chunks: repos.chunks });
  // Status events cross instances over the durable Redis' pub/sub, on the subscriber connection
  // the L1's invalidations use when the cache has no Redis of its own (RedisPubSub ignores
  // channels it did not subscribe to).
  const pubsub = createMessageStatusPubSub({
    engine:
      redis && redisSubscriber ? new RedisPubSub({ publisher: redis, subscriber: redisSubscriber }) : new PubSub(),
    channelPrefix: config.redis.keyPrefix,
    log: log.child({ component: 'pubsub' }),
  });
  const direct = createDirectWritePath({ messages: repos.messages, pubsub });
  const buffer = redis ? createWriteBuffer({ redis, keys, maxDepth: config.buffer.maxDepth }) : undefined;
  const eventLoopPressure = createEventLoopPressure(config.writeMaxEventLoopDelayMillis);
  return {
    config,
    log,
    clients,
    db,
    repos,
    sessionStore,
    sessions,
    auth: createAuthService({ db, users: repos.users, sessions, passwords: passwordHashing }),
    passwordHashing,
    embedder,
    retriever: cache.vectors ? createCachedRetriever({ retriever, cache: cache.vectors }) : retriever,
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
    cache: cache.entities && { entities: cache.entities, keys: cache.keys },
    invalidation: cache.invalidation,
    start: cache.start,
    async stop() {
      eventLoopPressure.stop();
      await passwordHashing.close();
      await cache.stop();
    },
  };
}
