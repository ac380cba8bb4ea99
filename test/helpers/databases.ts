import { randomBytes } from 'node:crypto';
import knex, { type Knex } from 'knex';

/** The server the tests use; its `postgres` database is the maintenance connection. */
const SERVER_URL = (() => {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley');
  url.pathname = '/postgres';
  return url;
})();

/** Every database a test run makes starts with this, followed by the run's start time. */
export const TEST_DATABASE_PREFIX = 'parley_test_';

/**
 * One run's names: `parley_test_<start time, base 36>_…`. The time lets a later run clean
 * up after a crashed one without touching a run still in progress beside it.
 */
export function runDatabasePrefix(startedAt = Date.now()): string {
  return `${TEST_DATABASE_PREFIX}${startedAt.toString(36)}_`;
}

/** Set by the global setup, inherited by the jest workers. */
export function templateDatabase(): string {
  const name = process.env.PARLEY_TEST_TEMPLATE;
  if (!name) throw new Error('PARLEY_TEST_TEMPLATE is not set: run the tests through jest (globalSetup).');
  return name;
}

export function databaseUrl(name: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export function adminConnection(): Knex {
  return knex({ client: 'pg', connection: SERVER_URL.toString(), pool: { min: 0, max: 1 } });
}

export async function dropDatabase(admin: Knex, name: string): Promise<void> {
  await admin.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [name]);
}

/**
 * A database of this test file's own, cloned from the migrated template: each file
 * starts from an empty schema and nothing leaks between files running in parallel.
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const template = templateDatabase();
  const name = `${template.replace(/template$/, '')}${randomBytes(6).toString('hex')}`;
  const admin = adminConnection();
  try {
    // Two clones of one template at the same moment can collide; a short retry settles it.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.raw(`CREATE DATABASE ?? TEMPLATE ??`, [name, template]);
        break;
      } catch (error: unknown) {
        if (attempt >= 10 || !String((error as Error).message).includes('being accessed by other users')) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  } finally {
    await admin.destroy();
  }
  return {
    url: databaseUrl(name),
    async drop() {
      const conn = adminConnection();
      try {
        await dropDatabase(conn, name);
      } finally {
        await conn.destroy();
      }
    },
  };
}
