import { runMain } from './cli/run-main';
import { loadConfig } from './config/config';
import { createLogger } from './core/logger';
import { createHttpServer } from './http/server';
import { startRuntime } from './runtime';
import { onShutdown } from './shutdown';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'api', level: config.logLevel, pretty: config.nodeEnv === 'development' });
  const runtime = await startRuntime(config, log, 'api');
  const { app } = runtime;
  const server = await createHttpServer(app);
  const url = await server.listen().catch(async (error: unknown) => {
    await runtime.release().catch(() => {});
    throw error;
  });
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
  onShutdown(log, [{ name: 'http', run: () => server.close() }, ...runtime.releaseSteps], {
    timeoutMillis: config.shutdownTimeoutMillis,
  });
}

runMain(main);
