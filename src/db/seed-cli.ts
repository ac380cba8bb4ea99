import { createDb } from '../clients/postgres';
import { loadConfig } from '../config/config';
import { createLogger } from '../logger';
import { runMain } from '../run-main';
import { seedDemo } from './seeds/demo';

/** `npm run seed`: the demo account, bots and sources. Safe to run again. */
runMain(async () => {
  const config = loadConfig();
  const log = createLogger({ name: 'seed', level: config.logLevel, pretty: !config.isProduction });
  const db = createDb({ ...config.database, pool: { ...config.database.pool, minIdle: 0, max: 2 } });
  try {
    await seedDemo(db, log);
  } finally {
    await db.destroy();
  }
});
