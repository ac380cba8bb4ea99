import { noCacheStats } from '../src/cache/cache-stats';
import { createRemoteInvalidator } from '../src/cache/entity-cache';
import { createCacheInvalidation, noCacheInvalidation } from '../src/cache/invalidation';
import { createCacheKeys } from '../src/cache/keys';
import { createVectorCache } from '../src/cache/vector-cache';
import { createClients } from '../src/clients/clients';
import { loadConfig } from '../src/config/config';
import { runMain } from '../src/run-main';
import { assertEmbeddingDimension } from '../src/db/schema-check';
import { createLogger } from '../src/logger';
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
  await assertEmbeddingDimension(db, config.embedding.dimension);
  await clients.ready();
  // With Redis, searches are cached there: an ingested source invalidates its bot's, and the
  // warmer recomputes the most asked ones before they expire.
  const vectorCache = clients.redis
    ? createVectorCache({
        redis: clients.redis,
        keys: createCacheKeys(config.redis.keyPrefix),
        ttlSeconds: config.vectorCache.ttlSeconds,
        stats: noCacheStats,
        log: log.child({ component: 'vector-cache' }),
      })
    : undefined;
  // The api instances hear of each source's changes: Redis drops the cached source (and every
  // L1 its copy), and the bot's cached searches become unreachable.
  const keys = createCacheKeys(config.redis.keyPrefix);
  const remote = clients.redis
    ? createRemoteInvalidator({ redis: clients.redis, keys, log: log.child({ component: 'cache' }) })
    : undefined;
  const invalidation = remote
    ? createCacheInvalidation({ keys, invalidate: remote.invalidate, bumpVectorVersion: vectorCache?.bumpVersion })
    : noCacheInvalidation;
  const warmer =
    vectorCache &&
    createVectorWarmer({
      cache: vectorCache,
      retriever: createRetriever({
        embedder: createLocalEmbedder({ dimension: config.embedding.dimension }),
        chunks: createChunksRepo(db),
      }),
      log: log.child({ component: 'vector-warmer' }),
      top: config.vectorCache.warmTop,
      intervalMillis: config.vectorCache.warmIntervalSeconds * 1000,
    });
  const ingester = createSourceIngester({
    sources: createSourcesRepo(db),
    fetcher: createUrlFetcher(config.ingestion.fetch),
    embedder: createLocalEmbedder({ dimension: config.embedding.dimension }),
    log: log.child({ component: 'ingester' }),
    settings: config.ingestion,
    onSourceChanged: invalidation.sourceChanged,
  });
  const sweeper = createSessionSweeper({
    sessions: createPostgresSessionStore(db),
    log: log.child({ component: 'session-sweeper' }),
    intervalMillis: SESSION_SWEEP_INTERVAL_MILLIS,
  });
  ingester.start();
  sweeper.start();
  warmer?.start();
  log.info(
    { concurrency: config.ingestion.concurrency, pollMillis: config.ingestion.pollMillis },
    'Parley worker ingesting sources',
  );
  onShutdown(
    log,
    [
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
