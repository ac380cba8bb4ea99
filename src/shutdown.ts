import type { Logger } from './logger';

/**
 * Runs every cleanup step on SIGINT/SIGTERM, in order, even if one fails, then exits.
 * A second signal exits at once, for an operator who does not want to wait.
 */
export function onShutdown(log: Logger, steps: { name: string; run: () => Promise<unknown> }[]): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without finishing clean-up');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    let failed = false;
    for (const step of steps) {
      try {
        await step.run();
      } catch (error: unknown) {
        failed = true;
        log.error({ err: error, step: step.name }, 'clean-up step failed');
      }
    }
    log.info('stopped');
    process.exit(failed ? 1 : 0);
  };
  process.once('SIGINT', (signal) => void stop(signal));
  process.once('SIGTERM', (signal) => void stop(signal));
}
