import type { Logger } from './core/logger';

/** How long the last log lines may take to reach their destination before the process exits regardless. */
const LOG_FLUSH_TIMEOUT_MILLIS = 500;

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown>;
}

export interface ShutdownOptions {
  /**
   * Time from the first signal for every step together (`config.shutdownTimeoutMillis`,
   * 10000 by default); a step still running then is logged and the process exits with 1,
   * at most `LOG_FLUSH_TIMEOUT_MILLIS` later.
   */
  timeoutMillis: number;
}

/**
 * On SIGINT/SIGTERM, runs every clean-up step in order, each even if an earlier one failed,
 * logs "stopped" and exits: 0 when every step succeeded, 1 when one failed or the time limit
 * passed first. A second signal exits at once, for an operator who does not want to wait.
 */
export function onShutdown(log: Logger, steps: ShutdownStep[], options: ShutdownOptions): void {
  let stopping = false;
  let exiting = false;
  // Whichever comes first, the last step or the time limit, decides the exit code.
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    exitAfterFlush(log, code);
  };

  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without finishing clean-up');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, timeoutMillis: options.timeoutMillis }, 'shutting down');
    let running: string | undefined;
    const deadline = setTimeout(() => {
      log.error({ step: running, timeoutMillis: options.timeoutMillis }, 'shutdown timed out; exiting anyway');
      exit(1);
    }, options.timeoutMillis);
    let failed = false;
    for (const step of steps) {
      running = step.name;
      const started = performance.now();
      try {
        await step.run();
        log.info({ step: step.name, ms: Math.round(performance.now() - started) }, 'clean-up step done');
      } catch (error: unknown) {
        failed = true;
        log.error({ err: error, step: step.name }, 'clean-up step failed');
      }
    }
    clearTimeout(deadline);
    if (exiting) return;
    log.info('stopped');
    exit(failed ? 1 : 0);
  };
  // `on`, not `once`: with the handler gone, a second SIGTERM would kill the process unlogged.
  process.on('SIGINT', (signal) => void stop(signal));
  process.on('SIGTERM', (signal) => void stop(signal));
}

/**
 * Ends the process with `code` once the log is written. pino's default destination writes
 * asynchronously and its `flush` returns before a write in flight lands, so `process.exit`
 * right away can drop or reorder the last lines, and those ("stopped", the time-out) are the
 * ones an operator needs. So: flush (which does wait for a transport's thread), then let the
 * event loop end by itself once the steps have closed everything, and force the exit only if
 * something still holds it open a moment later.
 */
function exitAfterFlush(log: Logger, code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), LOG_FLUSH_TIMEOUT_MILLIS).unref();
  log.flush(() => {});
}

/** Runs every step in order, each even if an earlier one failed; rejects with the first failure. */
export async function runSteps(steps: readonly ShutdownStep[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (error: unknown) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}
