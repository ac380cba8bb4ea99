import { connectPostgres, createDb, type Db } from '../platform/postgres/connection';
import { loadConfig, type Config } from '../config/config';
import { createLogger, type Logger } from '../core/logger';
import { runMain } from './run-main';

/**
 * Runs a one-off database command (migrate, seed) with the environment's configuration:
 * a pool of two connections, since a script needs no more, closed however it ends.
 */
export function runDbScript(
  name: string,
  script: (deps: { config: Config; log: Logger; db: Db }) => Promise<void>,
): void {
  runMain(async () => {
    const config = loadConfig();
    const log = createLogger({ name, level: config.logLevel, pretty: !config.isProduction });
    const db = createDb({ ...config.database, pool: { ...config.database.pool, minIdle: 0, max: 2 } }, log);
    try {
      await connectPostgres(db, config.database.url);
      await script({ config, log, db });
    } finally {
      await db.destroy();
    }
  });
}
