import { createAppDeps } from './app-deps';
import { checkBufferDurability } from './platform/redis/durability';
import { warmUpCache } from './loaders/warm-up';
import { createClients } from './platform/clients';
import { loadConfig } from './config/config';
import { runMain } from './cli/run-main';
import { assertEmbeddingDimension } from './platform/postgres/schema-check';
import { createHttpServer } from './http/server';
import { createLogger } from './core/logger';
import { onShutdown } from './shutdown';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'api', level: config.logLevel, pretty: config.nodeEnv === 'development' });
  const clients = createClients(config, log);
  const app = createAppDeps(config, log, clients);
  await clients.ready();
  await assertEmbeddingDimension(app.db, config.embedding.dimension);
  if (clients.redis) {
    // Acknowledged sends live only in Redis until a worker stores them: say at start-up what
    // this Redis could lose. A warning, not a refusal: rollback mode is the way off Redis.
    await checkBufferDurability(clients.redis, log.child({ component: 'redis-durability' }));
  }
  await app.start();
  if (app.cache) {
    await warmUpCache({ repos: app.repos, cache: app.cache, log: log.child({ component: 'cache' }) });
  }
  const server = await createHttpServer(app);
  const url = await server.listen();
  log.info(
    {
      graphql: `${url}/graphql`,
      websocket: `${url.replace(/^http/, 'ws')}/graphql`,
      uploads: `${url}/uploads`,
      health: `${url}/health/db`,
      bufferHealth: app.buffer ? `${url}/health/buffer` : undefined,
      widgetDemo: config.isProduction ? undefined : `${url}/demo`,
      playground: config.isProduction ? 'disabled in production' : `${url}/graphql`,
      writePath: app.buffer ? 'Redis write buffer (fallback: direct to PostgreSQL)' : 'direct to PostgreSQL',
    },
    `Parley API ready at ${url}/graphql`,
  );
  onShutdown(
    log,
    [
      { name: 'http', run: () => server.close() },
      { name: 'cache-stats', run: () => app.cacheStats.stop() },
      { name: 'cache', run: async () => app.stop() },
      { name: 'clients', run: () => clients.close() },
    ],
    { timeoutMillis: config.shutdownTimeoutMillis },
  );
}

runMain(main);
