import knex from 'knex';
import { loadConfig } from '../../src/config/config';
import { migrationConfig } from '../../src/platform/postgres/migration-source';
import { adminConnection, databaseUrl, dropDatabase, runDatabasePrefix, TEST_DATABASE_PREFIX } from './databases';

/** A run that started this long ago has crashed; its databases may go. */
const STALE_AFTER_MILLIS = 6 * 60 * 60 * 1000;

/** Builds this run's migrated template, which every test file clones its database from. */
export default async function globalSetup(): Promise<void> {
  const template = `${runDatabasePrefix()}template`;
  const admin = adminConnection();
  try {
    const existing = await admin.raw<{ rows: { datname: string }[] }>(
      `SELECT datname FROM pg_database WHERE starts_with(datname, ?)`,
      [TEST_DATABASE_PREFIX],
    );
    for (const { datname } of existing.rows) {
      const startedAt = parseInt(datname.slice(TEST_DATABASE_PREFIX.length).split('_')[0] ?? '', 36);
      const ageMillis = Date.now() - startedAt;
      if (!(ageMillis >= 0 && ageMillis < STALE_AFTER_MILLIS)) await dropDatabase(admin, datname);
    }
    await admin.raw('CREATE DATABASE ??', [template]);
  } finally {
    await admin.destroy();
  }
  const db = knex({ client: 'pg', connection: databaseUrl(template), pool: { min: 0, max: 1 } });
  try {
    const { embedding } = loadConfig({});
    await db.migrate.latest(migrationConfig({ embeddingDimension: embedding.dimension }));
  } finally {
    await db.destroy();
  }
  // Jest starts its workers after this, so they inherit the name.
  process.env.PARLEY_TEST_TEMPLATE = template;
}
