import knex from 'knex';
import { loadConfig } from '../../src/config/config';
import { migrationConfig } from '../../src/db/migration-source';
import { adminConnection, databaseUrl, TEMPLATE_DATABASE } from './databases';

/** Builds the migrated template that every test file clones its database from. */
export default async function globalSetup(): Promise<void> {
  const admin = adminConnection();
  try {
    await admin.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [TEMPLATE_DATABASE]);
    await admin.raw('CREATE DATABASE ??', [TEMPLATE_DATABASE]);
    // Databases left by an interrupted earlier run.
    const stale = await admin.raw<{ rows: { datname: string }[] }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'parley\\_test\\_%' AND datname <> ?`,
      [TEMPLATE_DATABASE],
    );
    for (const { datname } of stale.rows) await admin.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [datname]);
  } finally {
    await admin.destroy();
  }
  const db = knex({ client: 'pg', connection: databaseUrl(TEMPLATE_DATABASE), pool: { min: 0, max: 1 } });
  try {
    const { embedding } = loadConfig({});
    await db.migrate.latest(migrationConfig({ embeddingDimension: embedding.dimension }));
  } finally {
    await db.destroy();
  }
}
