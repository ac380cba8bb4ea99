import type { Knex } from 'knex';
import { initialSchema, type MigrationOptions } from './migrations/001-initial-schema';
import { sourceRetryDelay } from './migrations/002-source-retry-delay';
import { leasesAndPlans } from './migrations/003-leases-and-plans';

/**
 * Migrations are listed here rather than discovered on disk, so they run the same
 * under tsx, jest and a compiled build. Append new ones; never edit a released one.
 */
function createMigrationSource(options: MigrationOptions): Knex.MigrationSource<string> {
  const migrations: Record<string, Knex.Migration> = {
    '001-initial-schema': initialSchema(options),
    '002-source-retry-delay': sourceRetryDelay,
    '003-leases-and-plans': leasesAndPlans,
  };
  return {
    getMigrations: async () => Object.keys(migrations),
    getMigrationName: (name) => name,
    getMigration: async (name) => {
      const migration = migrations[name];
      if (!migration) throw new Error(`Unknown migration ${name}`);
      return migration;
    },
  };
}

export function migrationConfig(options: MigrationOptions): Knex.MigratorConfig {
  return { migrationSource: createMigrationSource(options), tableName: 'knex_migrations' };
}
