import { toSql } from 'pgvector';
import type { Db, Executor } from '../platform/postgres/connection';

export interface ChunkMatch {
  sourceId: string;
  content: string;
  /** Cosine similarity in [-1, 1]; higher is closer. */
  score: number;
}

export type ChunksRepo = ReturnType<typeof createChunksRepo>;

export function createChunksRepo(db: Db) {
  return {
    /** The bot's chunks nearest to `embedding` by cosine distance, through the HNSW index. */
    async nearest(botId: string, embedding: number[], limit: number, executor: Executor = db): Promise<ChunkMatch[]> {
      return executor.transaction(async (trx) => {
        // The index is shared by all bots; iterative scans keep walking the graph until
        // `limit` rows of this bot are found instead of returning a short list.
        await trx.raw('SET LOCAL hnsw.iterative_scan = relaxed_order');
        const result = await trx.raw<{ rows: { source_id: string; content: string; distance: number }[] }>(
          `SELECT source_id, content, distance FROM (
             SELECT source_id, content, embedding <=> ?::vector AS distance
             FROM source_chunks WHERE bot_id = ?
             ORDER BY embedding <=> ?::vector
             LIMIT ?
           ) nearest ORDER BY distance`,
          [toSql(embedding), botId, toSql(embedding), limit],
        );
        return result.rows.map((row) => ({
          sourceId: row.source_id,
          content: row.content,
          score: 1 - Number(row.distance),
        }));
      });
    },
  };
}
