import { createClients } from '../src/clients/clients';
import { loadConfig } from '../src/config/config';
import { runMain } from '../src/run-main';
import { assertEmbeddingDimension } from '../src/db/schema-check';
import { createLogger } from '../src/logger';
import { createPostgresSessionStore } from '../src/sessions/postgres-session-store';
import { createSourcesRepo } from '../src/repos/sources';
import { createLocalEmbedder } from '../src/search/embedder';
import { onShutdown } from '../src/shutdown';
import { createUrlFetcher } from '../src/sources/fetch-url';
import { createSessionSweeper } from './session-sweeper';
import { createSourceIngester } from './source-ingester';

/** Expired sessions are harmless (refused at look-up), so an hourly sweep is plenty. */
const SESSION_SWEEP_INTERVAL_MILLIS = 60 * 60 * 1000;

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'worker', level: config.logLevel, pretty: config.nodeEnv === 'development' });
  const clients = createClients(config, log);
  const { db } = clients;
  await assertEmbeddingDimension(db, config.embedding.dimension);
  const ingester = createSourceIngester({
    sources: createSourcesRepo(db),
    fetcher: createUrlFetcher(config.ingestion.fetch),
    embedder: createLocalEmbedder({ dimension: config.embedding.dimension }),
    log: log.child({ component: 'ingester' }),
    settings: config.ingestion,
  });
  const sweeper = createSessionSweeper({
    sessions: createPostgresSessionStore(db),
    log: log.child({ component: 'session-sweeper' }),
    intervalMillis: SESSION_SWEEP_INTERVAL_MILLIS,
  });
  ingester.start();
  sweeper.start();
  log.info(
    { concurrency: config.ingestion.concurrency, pollMillis: config.ingestion.pollMillis },
    'Parley worker ingesting sources',
  );
  onShutdown(
    log,
    [
      { name: 'ingester', run: () => ingester.stop() },
      { name: 'session-sweeper', run: () => sweeper.stop() },
      { name: 'clients', run: () => clients.close() },
    ],
    { timeoutMillis: config.shutdownTimeoutMillis },
  );
}

runMain(main);
