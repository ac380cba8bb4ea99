import type { Config } from '../config/config';
import type { Logger } from '../logger';
import { createDb, type Db } from './postgres';

/** The long-lived connections of a process, built once at start-up and passed down. */
export interface Clients {
  db: Db;
  /** Closes every client, each step even if an earlier one fails; rejects with the first failure. */
  close(): Promise<void>;
}

/** One place builds the clients for the api, the worker and the tests. */
export function createClients(config: Config, log: Logger): Clients {
  const db = createDb(config.database, log);
  return {
    db,
    async close() {
      const results = await Promise.allSettled([db.destroy()]);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
