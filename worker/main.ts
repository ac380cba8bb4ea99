import { createCacheLayer } from '../src/cache/cache-layer';
import { noCacheStats } from '../src/cache/cache-stats';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { createWriteBuffer } from '../src/buffer/write-buffer';
import { createCacheKeys } from '../src/platform/redis/keys';
import { createClients } from '../src/platform/clients';
import { closeRedis, createRedis } from '../src/platform/redis/connection';
import { createMessagesRepo } from '../src/repos/messages';
import { createMessageStatusPubSub } from '../src/pubsub/message-status-pubsub';
import { createBufferFlusher } from './buffer-flusher';
import { loadConfig } from '../src/config/config';
import { runMain } from '../src/cli/run-main';
import { assertEmbeddingDimension } from '../src/platform/postgres/schema-check';
import { createLogger } from '../src/core/logger';
import { createPostgresSessionStore } from '../src/sessions/postgres-session-store';
import { createChunksRepo } from '../src/repos/chunks';
import { createSourcesRepo } from '../src/repos/sources';
import { createLocalEmbedder } from '../src/search/embedder';
import { createRetriever } from '../src/search/retriever';
import { onShutdown } from '../src/shutdown';
import { createUrlFetcher } from '../src/sources/fetch-url';
import { createSessionSweeper } from './session-sweeper';
import { createSourceIngester } from './source-ingester';
import { createVectorWarmer } from './vector-warmer';

/** Expired sessions are harmless (refused at look-up), so an hourly sweep is plenty. */
const SESSION_SWEEP_INTERVAL_MILLIS = 60 * 60 * 1000;

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'worker', level: config.logLevel, pretty: config.nodeEnv === 'development' });
  const clients = createClients(config, log, { subscriber: false });
  const { db } = clients;
  await clients.ready();
  await assertEmbeddingDimension(db, config.embedding.dimension);
  const embedder = createLocalEmbedder({ dimension: config.embedding.dimension });
  // With Redis, each source change drops the cached source (in Redis and every api's L1) and
  // makes its bot's cached searches unreachable; the warmer recomputes the most asked ones
  // before they expire.
  // In the cache's Redis (REDIS_CACHE_URL, or the one Redis); the buffer below is in the durable one.
  const cache = createCacheLayer({ config, log, redis: clients.cacheRedis, stats: noCacheStats });
  const warmer =
    cache.vectors &&
    createVectorWarmer({
      cache: cache.vectors,
      retriever: createRetriever({ embedder, chunks: createChunksRepo(db) }),
      log: log.child({ component: 'vector-warmer' }),
      top: config.vectorCache.warmTop,
      intervalMillis: config.vectorCache.warmIntervalSeconds * 1000,
    });
  const ingester = createSourceIngester({
    sources: createSourcesRepo(db),
    fetcher: createUrlFetcher(config.ingestion.fetch),
    embedder,
    log: log.child({ component: 'ingester' }),
    settings: config.ingestion,
    onSourceChanged: cache.invalidation.sourceChanged,
  });
  const sweeper = createSessionSweeper({
    sessions: createPostgresSessionStore(db),
    log: log.child({ component: 'session-sweeper' }),
    intervalMillis: SESSION_SWEEP_INTERVAL_MILLIS,
  });
  const { redis } = clients;
  // The only writer of buffered chat data. The worker publishes status events and never
  // subscribes, so RedisPubSub's subscriber side is the command connection, left idle.
  const flusher =
    redis &&
    createBufferFlusher({
      buffer: createWriteBuffer({
        redis,
        keys: createCacheKeys(config.redis.keyPrefix),
        maxDepth: config.buffer.maxDepth,
      }),
      messages: createMessagesRepo(db),
      pubsub: createMessageStatusPubSub({
        engine: new RedisPubSub({ publisher: redis, subscriber: redis }),
        channelPrefix: config.redis.keyPrefix,
        log: log.child({ component: 'pubsub' }),
      }),
      createBlockingRedis: () => createRedis(config.redis, log, 'blocking'),
      closeRedis,
      log: log.child({ component: 'flusher' }),
      settings: config.buffer,
    });
  ingester.start();
  sweeper.start();
  warmer?.start();
  flusher?.start();
  log.info(
    {
      concurrency: config.ingestion.concurrency,
      pollMillis: config.ingestion.pollMillis,
      flushLoops: flusher ? config.buffer.flushConcurrency : 0,
    },
    flusher ? 'Parley worker flushing the write buffer and ingesting sources' : 'Parley worker ingesting sources',
  );
  onShutdown(
    log,
    [
      // A flush in hand finishes (a transaction takes milliseconds), or goes back to the queue.
      ...(flusher ? [{ name: 'flusher', run: () => flusher.stop() }] : []),
      // Sources in hand get the time limit less 2 s, then go back to the queue unfinished: giving
      // them back and the steps below take well under the 2 s left, so the exit stays 0.
      { name: 'ingester', run: () => ingester.stop({ graceMillis: Math.max(0, config.shutdownTimeoutMillis - 2000) }) },
      { name: 'session-sweeper', run: () => sweeper.stop() },
      ...(warmer ? [{ name: 'vector-warmer', run: () => warmer.stop() }] : []),
      { name: 'clients', run: () => clients.close() },
    ],
    { timeoutMillis: config.shutdownTimeoutMillis },
  );
}

runMain(main);
