import { toSql } from 'pgvector';
import type { Db } from '../clients/postgres';
import type { SourceKind, SourceRecord, SourceStatus } from './records';

interface SourceRow {
  id: string;
  bot_id: string;
  kind: SourceKind;
  title: string;
  status: SourceStatus;
  error: string | null;
  chunk_count: number;
  url: string | null;
  content: string | null;
  content_format: string | null;
  filename: string | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
}

const METADATA = ['id', 'bot_id', 'kind', 'title', 'status', 'error', 'chunk_count', 'created_at', 'updated_at'];

const toRecord = (
  row: Pick<
    SourceRow,
    'id' | 'bot_id' | 'kind' | 'title' | 'status' | 'error' | 'chunk_count' | 'created_at' | 'updated_at'
  >,
): SourceRecord => ({
  id: row.id,
  botId: row.bot_id,
  kind: row.kind,
  title: row.title,
  status: row.status,
  error: row.error,
  chunkCount: row.chunk_count,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export interface NewSource {
  id: string;
  botId: string;
  kind: SourceKind;
  title: string;
  url?: string;
  content?: string;
  contentFormat?: string;
  filename?: string;
}

/** What the ingestion worker needs of a claimed source. */
export interface SourceJob {
  id: string;
  botId: string;
  kind: SourceKind;
  url: string | null;
  content: string | null;
  contentFormat: string | null;
  attempts: number;
}

export type SourcesRepo = ReturnType<typeof createSourcesRepo>;

export function createSourcesRepo(db: Db) {
  return {
    async create(source: NewSource): Promise<SourceRecord> {
      const [row] = await db<SourceRow>('sources')
        .insert({
          id: source.id,
          bot_id: source.botId,
          kind: source.kind,
          title: source.title,
          url: source.url ?? null,
          content: source.content ?? null,
          content_format: source.contentFormat ?? null,
          filename: source.filename ?? null,
        })
        .returning(METADATA);
      return toRecord(row as SourceRow);
    },

    async delete(id: string): Promise<boolean> {
      return (await db('sources').where({ id }).delete()) > 0;
    },

    async findByIds(ids: readonly string[]): Promise<SourceRecord[]> {
      const rows = await db('sources')
        .select<SourceRow[]>(METADATA)
        .whereIn('id', ids as string[]);
      return rows.map(toRecord);
    },

    /** Sources of several bots in one query, oldest first. */
    async listByBots(botIds: readonly string[]): Promise<SourceRecord[]> {
      const rows = await db('sources')
        .select<SourceRow[]>(METADATA)
        .whereIn('bot_id', botIds as string[])
        .orderBy('id');
      return rows.map(toRecord);
    },

    /**
     * Claims the pending source that has waited longest, or one whose worker died (lease
     * expired). SKIP LOCKED lets any number of workers poll the same table without blocking.
     */
    async claimNext(leaseSeconds: number): Promise<SourceJob | undefined> {
      const result = await db.raw<{ rows: SourceRow[] }>(
        `UPDATE sources SET status = 'PROCESSING', locked_at = now(), attempts = attempts + 1, updated_at = now()
         WHERE id = (
           SELECT id FROM sources
           WHERE (status = 'PENDING' AND available_at <= now())
              OR (status = 'PROCESSING' AND locked_at < now() - make_interval(secs => ?))
           ORDER BY available_at
           FOR UPDATE SKIP LOCKED
           LIMIT 1
         )
         RETURNING id, bot_id, kind, url, content, content_format, attempts`,
        [leaseSeconds],
      );
      const row = result.rows[0];
      return (
        row && {
          id: row.id,
          botId: row.bot_id,
          kind: row.kind,
          url: row.url,
          content: row.content,
          contentFormat: row.content_format,
          attempts: row.attempts,
        }
      );
    },

    /** Replaces the source's chunks and marks it READY, atomically. False if the source was deleted meanwhile. */
    async completeWithChunks(
      sourceId: string,
      botId: string,
      chunks: { content: string; embedding: number[] }[],
    ): Promise<boolean> {
      return db.transaction(async (trx) => {
        const locked = await trx('sources').where({ id: sourceId, status: 'PROCESSING' }).forUpdate().first('id');
        if (!locked) return false;
        await trx('source_chunks').where({ source_id: sourceId }).delete();
        // Batches keep each INSERT well under PostgreSQL's 65,535 bind-parameter limit.
        for (let start = 0; start < chunks.length; start += 500) {
          await trx('source_chunks').insert(
            chunks.slice(start, start + 500).map((chunk, i) => ({
              source_id: sourceId,
              bot_id: botId,
              ordinal: start + i,
              content: chunk.content,
              embedding: toSql(chunk.embedding),
            })),
          );
        }
        await trx('sources').where({ id: sourceId }).update({
          status: 'READY',
          error: null,
          chunk_count: chunks.length,
          locked_at: null,
          updated_at: trx.fn.now(),
        });
        return true;
      });
    },

    async markFailed(sourceId: string, error: string): Promise<void> {
      await db('sources')
        .where({ id: sourceId, status: 'PROCESSING' })
        .update({ status: 'FAILED', error, locked_at: null, updated_at: db.fn.now() });
    },

    /** Gives a claimed source back to the queue after a transient failure, to be retried after a delay. */
    async release(sourceId: string, retryAfterMillis: number): Promise<void> {
      await db('sources')
        .where({ id: sourceId, status: 'PROCESSING' })
        .update({
          status: 'PENDING',
          locked_at: null,
          available_at: db.raw(`now() + make_interval(secs => ?)`, [retryAfterMillis / 1000]),
          updated_at: db.fn.now(),
        });
    },
  };
}
