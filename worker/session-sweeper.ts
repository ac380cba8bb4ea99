import type { Logger } from '../src/core/logger';
import type { PostgresSessionStore } from '../src/sessions/postgres-session-store';

export interface SessionSweeperOptions {
  sessions: Pick<PostgresSessionStore, 'deleteExpired'>;
  log: Logger;
  /** Time between sweeps. */
  intervalMillis: number;
}

/**
 * Deletes expired sessions from the PostgreSQL store. Expired ones are already refused
 * at look-up; this only keeps the table from growing with every widget visit.
 */
export function createSessionSweeper(options: SessionSweeperOptions) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function sweepOnce(): Promise<number> {
    const deleted = await options.sessions.deleteExpired();
    if (deleted > 0) options.log.info({ deleted }, 'expired sessions deleted');
    return deleted;
  }

  return {
    sweepOnce,
    start(): void {
      timer = setInterval(() => {
        running = sweepOnce().then(
          () => undefined,
          (error: unknown) => options.log.error({ err: error }, 'could not delete expired sessions'),
        );
      }, options.intervalMillis);
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
