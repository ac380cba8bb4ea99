import { toSql } from 'pgvector';
import type { Db, Executor } from '../platform/postgres/connection';

export interface ChunkMatch {
  sourceId: string;
  content: string;
  /** Cosine similarity in [-1, 1]; higher is closer. */
  score: number;
}

/** A bot's chunks as stored, for ranking in process: `embeddings[i]` is the vector of `contents[i]`. */
export interface StoredChunks {
  sourceIds: string[];
  contents: string[];
  embeddings: Float32Array[];
}

export type ChunksRepo = ReturnType<typeof createChunksRepo>;

/** `vector_send`'s layout: int16 dimension, int16 unused, then big-endian float4s. */
const VECTOR_HEADER_BYTES = 4;

function vectorFromBinary(bytes: Buffer): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dimension = view.getInt16(0);
  const vector = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) vector[i] = view.getFloat32(VECTOR_HEADER_BYTES + 4 * i);
  return vector;
}

export function createChunksRepo(db: Db) {
  return {
    /**
     * The bot's chunks nearest to `embedding` by cosine distance, through the HNSW index: one
     * statement, the vector sent once. The index is shared by all bots; the connection's
     * `hnsw.iterative_scan = relaxed_order` (set at connect, see connection.ts) keeps it walking
     * the graph until `limit` rows of this bot are found instead of returning a short list, and
     * may hand them back slightly out of order, so they are sorted here.
     */
    async nearest(botId: string, embedding: number[], limit: number, executor: Executor = db): Promise<ChunkMatch[]> {
      const result = await executor.raw<{ rows: { source_id: string; content: string; distance: number }[] }>(
        // ORDER BY the output column is ORDER BY the expression: the planner still uses the index.
        `SELECT source_id, content, embedding <=> ?::vector AS distance
         FROM source_chunks WHERE bot_id = ?
         ORDER BY distance LIMIT ?`,
        [toSql(embedding), botId, limit],
      );
      return result.rows
        .map((row) => ({ sourceId: row.source_id, content: row.content, score: 1 - Number(row.distance) }))
        .sort((a, b) => b.score - a.score);
    },

    /**
     * Up to `max` of the bot's chunks with their embeddings as stored (float4, in binary), in
     * insertion order; undefined when it has more than `max` (too many to hold in memory).
     */
    async ofBot(botId: string, max: number, executor: Executor = db): Promise<StoredChunks | undefined> {
      const result = await executor.raw<{ rows: { source_id: string; content: string; embedding: Buffer }[] }>(
        `SELECT source_id, content, vector_send(embedding) AS embedding
         FROM source_chunks WHERE bot_id = ? ORDER BY id LIMIT ?`,
        [botId, max + 1],
      );
      if (result.rows.length > max) return undefined;
      return {
        sourceIds: result.rows.map((row) => row.source_id),
        contents: result.rows.map((row) => row.content),
        embeddings: result.rows.map((row) => vectorFromBinary(row.embedding)),
      };
    },
  };
}
