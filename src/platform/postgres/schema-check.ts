import { StartupError } from '../../core/errors';
import type { Db } from './connection';

class SchemaMismatchError extends StartupError {
  override readonly name = 'SchemaMismatchError';
}

/**
 * Fails start-up when the database was migrated with another EMBEDDING_DIMENSION:
 * otherwise every ingestion and search would fail later with a less helpful error.
 */
export async function assertEmbeddingDimension(db: Db, dimension: number): Promise<void> {
  const result = await db.raw<{ rows: { dimension: number }[] }>(
    `SELECT atttypmod AS dimension FROM pg_attribute
     WHERE attrelid = to_regclass('source_chunks') AND attname = 'embedding'`,
  );
  const actual = result.rows[0]?.dimension;
  if (actual === undefined) throw new SchemaMismatchError('The database is not migrated: run `npm run migrate`.');
  if (actual !== dimension) {
    throw new SchemaMismatchError(
      `EMBEDDING_DIMENSION is ${dimension} but the database stores vectors of ${actual}: ` +
        'set it back, or migrate a fresh database with the new value.',
    );
  }
}
