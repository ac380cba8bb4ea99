import { randomBytes } from 'node:crypto';
import knex, { type Knex } from 'knex';

/** The server the tests use; its `postgres` database is the maintenance connection. */
export const SERVER_URL = (() => {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley');
  url.pathname = '/postgres';
  return url;
})();

export const TEMPLATE_DATABASE = 'parley_test_template';

export function databaseUrl(name: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export function adminConnection(): Knex {
  return knex({ client: 'pg', connection: SERVER_URL.toString(), pool: { min: 0, max: 1 } });
}

/**
 * A database of this test file's own, cloned from the migrated template: each file
 * starts from an empty schema and nothing leaks between files running in parallel.
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `parley_test_${randomBytes(6).toString('hex')}`;
  const admin = adminConnection();
  try {
    // Two clones of one template at the same moment can collide; a short retry settles it.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.raw(`CREATE DATABASE ?? TEMPLATE ??`, [name, TEMPLATE_DATABASE]);
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
        await conn.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [name]);
      } finally {
        await conn.destroy();
      }
    },
  };
}
