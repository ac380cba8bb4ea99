import knex from 'knex';
import { migrationConfig } from '../../src/platform/postgres/migration-source';
import { createTestDatabase } from '../helpers/databases';

const UNKNOWN = '01890000-0000-7000-8000-000000000001';

describe('migrations', () => {
  it('each migration can be undone, and all of them re-applied', async () => {
    const database = await createTestDatabase();
    const db = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
    const tables = async () =>
      (
        await db.raw<{ rows: { tablename: string }[] }>(
          `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex%' ORDER BY 1`,
        )
      ).rows.map((row) => row.tablename);
    const columns = async (table: string) => Object.keys(await db(table).columnInfo());
    try {
      const config = migrationConfig({ embeddingDimension: 1024 });
      expect(await tables()).toEqual([
        'bots',
        'conversations',
        'messages',
        'sessions',
        'source_chunks',
        'sources',
        'users',
      ]);
      expect(await columns('sources')).toContain('lease_token');
      await expect(
        db('users').insert({ id: UNKNOWN, email: 'pro@example.com', password_hash: 'x', plan: 'PRO' }),
      ).rejects.toThrow(/users_plan_check/);
      await db.migrate.down(config);
      expect(await columns('sources')).not.toContain('lease_token');
      await db('users').insert({ id: UNKNOWN, email: 'pro@example.com', password_hash: 'x', plan: 'PRO' });
      await db('users').where({ id: UNKNOWN }).delete();
      expect(await columns('sources')).toContain('available_at');
      await db.migrate.down(config);
      expect(await columns('sources')).not.toContain('available_at');
      await db.migrate.down(config);
      expect(await tables()).toEqual([]);
      await db.migrate.latest(config);
      expect(await tables()).toHaveLength(7);
      expect(await columns('sources')).toContain('lease_token');
      const index = await db.raw(`SELECT indexdef FROM pg_indexes WHERE indexname = 'source_chunks_embedding_idx'`);
      expect(index.rows[0].indexdef).toMatch(/USING hnsw \(embedding vector_cosine_ops\)/);
    } finally {
      await db.destroy();
      await database.drop();
    }
  });
});
