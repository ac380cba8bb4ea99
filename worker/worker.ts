import type { AppDeps } from '../src/app-deps';
import type { Config } from '../src/config/config';
import { closeRedis, createRedis } from '../src/platform/redis/connection';
import type { MessagesRepo } from '../src/repos/messages';
import { createPostgresSessionStore } from '../src/sessions/postgres-session-store';
import type { ShutdownStep } from '../src/shutdown';
import { createUrlFetcher } from '../src/sources/fetch-url';
import { createBufferFlusher, type BufferFlusher } from './buffer-flusher';
import { createSessionSweeper } from './session-sweeper';
import { createSourceIngester, type SourceIngester } from './source-ingester';
import { createVectorWarmer } from './vector-warmer';

/** Expired sessions are harmless (refused at look-up), so an hourly sweep is plenty. */
const SESSION_SWEEP_INTERVAL_MILLIS = 60 * 60 * 1000;

/**
 * The flusher of the write buffer (absent in rollback mode): the only writer of buffered chat
 * data, storing through `messages` and publishing PERSISTED on the runtime's pub/sub.
 */
export function createFlusher(
  app: AppDeps,
  settings: Config['buffer'] = app.config.buffer,
  messages: MessagesRepo = app.repos.messages,
): BufferFlusher | undefined {
  if (!app.buffer) return undefined;
  const { config, log } = app;
  return createBufferFlusher({
    buffer: app.buffer,
    messages,
    pubsub: app.pubsub,
    createBlockingRedis: () => createRedis(config.redis, log, 'blocking'),
    closeRedis,
    log: log.child({ component: 'flusher' }),
    settings,
  });
}

/** Turns PENDING sources into READY chunks; each status change reaches the caches the api reads. */
export function createIngester(app: AppDeps, settings: Config['ingestion'] = app.config.ingestion): SourceIngester {
  return createSourceIngester({
    sources: app.repos.sources,
    fetcher: createUrlFetcher(settings.fetch),
    embedder: app.embedder,
    log: app.log.child({ component: 'ingester' }),
    settings,
    onSourceChanged: (source) => app.invalidation.sourceChanged(source),
  });
}

/** Everything the worker process runs, wired from the runtime (src/runtime.ts). */
export function createWorker(app: AppDeps) {
  const { config, log } = app;
  const flusher = createFlusher(app);
  const ingester = createIngester(app);
  const sweeper = createSessionSweeper({
    sessions: createPostgresSessionStore(app.db),
    log: log.child({ component: 'session-sweeper' }),
    intervalMillis: SESSION_SWEEP_INTERVAL_MILLIS,
  });
  // Recomputes the most asked searches before they expire: each source change makes its bot's
  // cached searches unreachable.
  const warmer =
    app.vectors &&
    createVectorWarmer({
      cache: app.vectors,
      retriever: app.uncachedRetriever,
      log: log.child({ component: 'vector-warmer' }),
      top: config.vectorCache.warmTop,
      intervalMillis: config.vectorCache.warmIntervalSeconds * 1000,
    });
  return {
    flusher,
    start() {
      ingester.start();
      sweeper.start();
      warmer?.start();
      flusher?.start();
    },
    /** Clean-up, in order, before the runtime's own. */
    steps: [
      // A flush in hand finishes (a transaction takes milliseconds), or goes back to the queue.
      ...(flusher ? [{ name: 'flusher', run: () => flusher.stop() }] : []),
      // Sources in hand get the time limit less 2 s, then go back to the queue unfinished: giving
      // them back and the steps below take well under the 2 s left, so the exit stays 0.
      { name: 'ingester', run: () => ingester.stop({ graceMillis: Math.max(0, config.shutdownTimeoutMillis - 2000) }) },
      { name: 'session-sweeper', run: () => sweeper.stop() },
      ...(warmer ? [{ name: 'vector-warmer', run: () => warmer.stop() }] : []),
    ] satisfies ShutdownStep[],
  };
}
