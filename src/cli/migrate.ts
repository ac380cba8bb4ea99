import { migrationConfig } from '../platform/postgres/migration-source';
import { runTool } from './run-tool';

/** `npm run migrate` (latest) and `npm run migrate:down` (undo the last migration). */
runTool('migrate', async ({ config, log, db: openDb }) => {
  const command = process.argv[2];
  const db = await openDb();
  const options = migrationConfig({ embeddingDimension: config.embedding.dimension });
  if (command === 'latest') {
    const [batch, names] = (await db.migrate.latest(options)) as [number, string[]];
    log.info({ batch, applied: names }, names.length ? 'migrations applied' : 'schema already up to date');
  } else if (command === 'down') {
    const [, names] = (await db.migrate.down(options)) as [number, string[]];
    log.info({ reverted: names }, names.length ? 'migration reverted' : 'nothing to revert');
  } else {
    throw new Error(`Unknown command ${command ?? '(none)'}; use "latest" or "down"`);
  }
});
