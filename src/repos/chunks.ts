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
     * Up to `max` chunks of each bot with their embeddings as stored (float4, in binary), in
     * insertion order, in one statement; a bot with more than `max` maps to undefined (too many
     * to hold in memory), one with none to empty lists. Every id asked for is in the map.
     */
    async ofBots(
      botIds: readonly string[],
      max: number,
      executor: Executor = db,
    ): Promise<Map<string, StoredChunks | undefined>> {
      const result = await executor.raw<{
        rows: { bot_id: string; source_id: string; content: string; embedding: Buffer }[];
      }>(
        `SELECT wanted.bot_id, chunk.source_id, chunk.content, chunk.embedding
         FROM unnest(?::uuid[]) AS wanted(bot_id)
         CROSS JOIN LATERAL (
           SELECT source_id, content, vector_send(embedding) AS embedding
           FROM source_chunks WHERE bot_id = wanted.bot_id ORDER BY id LIMIT ?
         ) AS chunk`,
        // One array literal (knex would spread a JS array into a list of placeholders), each bot
        // once: an id asked for twice would get its rows twice. Bot ids are UUIDs.
        [`{${[...new Set(botIds)].join(',')}}`, max + 1],
      );
      const found = new Map<string, StoredChunks | undefined>(
        botIds.map((id) => [id, { sourceIds: [], contents: [], embeddings: [] }]),
      );
      for (const row of result.rows) {
        const chunks = found.get(row.bot_id);
        if (!chunks) continue;
        if (chunks.sourceIds.length === max) {
          found.set(row.bot_id, undefined);
          continue;
        }
        chunks.sourceIds.push(row.source_id);
        chunks.contents.push(row.content);
        chunks.embeddings.push(vectorFromBinary(row.embedding));
      }
      return found;
    },
  };
}
