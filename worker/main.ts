import { runMain } from '../src/cli/run-main';
import { loadConfig } from '../src/config/config';
import { createLogger } from '../src/core/logger';
import { startRuntime } from '../src/runtime';
import { onShutdown } from '../src/shutdown';
import { createWorker } from './worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'worker', level: config.logLevel, pretty: config.nodeEnv === 'development' });
  const runtime = await startRuntime(config, log, 'worker');
  const worker = createWorker(runtime.app);
  worker.start();
  log.info(
    {
      concurrency: config.ingestion.concurrency,
      pollMillis: config.ingestion.pollMillis,
      flushLoops: worker.flusher ? config.buffer.flushConcurrency : 0,
    },
    worker.flusher
      ? 'Parley worker flushing the write buffer and ingesting sources'
      : 'Parley worker ingesting sources',
  );
  onShutdown(log, [...worker.steps, ...runtime.releaseSteps], { timeoutMillis: config.shutdownTimeoutMillis });
}

runMain(main);
