import { loadConfig } from '../config/config';
import { runMain } from '../run-main';
import { createDb } from '../clients/postgres';
import { createLogger } from '../logger';
import { migrationConfig } from './migration-source';

/** `npm run migrate` (latest) and `npm run migrate:down` (undo the last migration). */
async function main(command: string | undefined): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ name: 'migrate', level: config.logLevel, pretty: !config.isProduction });
  const db = createDb({ ...config.database, pool: { ...config.database.pool, minIdle: 0, max: 2 } });
  const migrator = db.migrate;
  const options = migrationConfig({ embeddingDimension: config.embedding.dimension });
  try {
    if (command === 'latest') {
      const [batch, names] = (await migrator.latest(options)) as [number, string[]];
      log.info({ batch, applied: names }, names.length ? 'migrations applied' : 'schema already up to date');
    } else if (command === 'down') {
      const [, names] = (await migrator.down(options)) as [number, string[]];
      log.info({ reverted: names }, names.length ? 'migration reverted' : 'nothing to revert');
    } else {
      throw new Error(`Unknown command ${command ?? '(none)'}; use "latest" or "down"`);
    }
  } finally {
    await db.destroy();
  }
}

runMain(() => main(process.argv[2]));
