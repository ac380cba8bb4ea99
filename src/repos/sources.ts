import { toSql } from 'pgvector';
import type { Db, Executor } from '../platform/postgres/connection';
import { newId } from '../core/ids';
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
  lease_token: string | null;
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
  /** This claim's lease: only its holder may complete, fail or release the source. */
  leaseToken: string;
}

/** What a source that crashed or stalled its worker on every attempt is marked FAILED with. */
export const ABANDONED_SOURCE_ERROR = 'Processing stopped repeatedly on this source; delete it and add it again.';

export type SourcesRepo = ReturnType<typeof createSourcesRepo>;

/**
 * Ends a claim with `changes`, only while the lease is still `job`'s: a worker whose lease
 * expired (and whose source another worker now holds) changes nothing. False in that case.
 */
async function endLease(
  executor: Executor,
  job: Pick<SourceJob, 'id' | 'leaseToken'>,
  changes: Record<string, unknown>,
): Promise<boolean> {
  const updated = await executor('sources')
    .where({ id: job.id, status: 'PROCESSING', lease_token: job.leaseToken })
    .update({ ...changes, locked_at: null, lease_token: null, updated_at: executor.fn.now() });
  return updated > 0;
}

export function createSourcesRepo(db: Db) {
  return {
    async create(source: NewSource, executor: Executor = db): Promise<SourceRecord> {
      const [row] = await executor<SourceRow>('sources')
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

    async delete(id: string, executor: Executor = db): Promise<boolean> {
      return (await executor('sources').where({ id }).delete()) > 0;
    },

    async findByIds(ids: readonly string[], executor: Executor = db): Promise<SourceRecord[]> {
      const rows = await executor('sources')
        .select<SourceRow[]>(METADATA)
        .whereIn('id', ids as string[]);
      return rows.map(toRecord);
    },

    /** Sources of several bots in one query, oldest first. */
    async listByBots(botIds: readonly string[], executor: Executor = db): Promise<SourceRecord[]> {
      const rows = await executor('sources')
        .select<SourceRow[]>(METADATA)
        .whereIn('bot_id', botIds as string[])
        .orderBy('id');
      return rows.map(toRecord);
    },

    /**
     * Claims the pending source that has waited longest, or one whose worker died (lease
     * expired). SKIP LOCKED lets any number of workers poll the same table without blocking.
     * A source whose lease expired after its last allowed attempt is marked FAILED instead:
     * one that kills its worker (memory, a hang) must not take every worker down in turn.
     */
    async claimNext(
      leaseSeconds: number,
      maxAttempts: number,
      executor: Executor = db,
    ): Promise<SourceJob | undefined> {
      // One statement, so an idle worker's poll is one transaction: the sources abandoned after
      // their last attempt are failed in its CTE, and kept out of the claim by their attempts.
      const result = await executor.raw<{ rows: SourceRow[] }>(
        `WITH abandoned AS (
           UPDATE sources SET status = 'FAILED', error = ?, locked_at = NULL, lease_token = NULL, updated_at = now()
           WHERE status = 'PROCESSING' AND attempts >= ? AND locked_at < now() - make_interval(secs => ?)
         )
         UPDATE sources SET status = 'PROCESSING', locked_at = now(), lease_token = ?, attempts = attempts + 1,
           updated_at = now()
         WHERE id = (
           SELECT id FROM sources
           WHERE (status = 'PENDING' AND available_at <= now())
              OR (status = 'PROCESSING' AND attempts < ? AND locked_at < now() - make_interval(secs => ?))
           ORDER BY available_at
           FOR UPDATE SKIP LOCKED
           LIMIT 1
         )
         RETURNING id, bot_id, kind, url, content, content_format, attempts, lease_token`,
        [ABANDONED_SOURCE_ERROR, maxAttempts, leaseSeconds, newId(), maxAttempts, leaseSeconds],
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
          leaseToken: row.lease_token as string,
        }
      );
    },

    /**
     * Replaces the source's chunks and marks it READY, atomically. False if the source was
     * deleted meanwhile, or this lease expired and another worker holds the source now.
     */
    async completeWithChunks(
      job: Pick<SourceJob, 'id' | 'botId' | 'leaseToken'>,
      chunks: { content: string; embedding: number[] }[],
      executor: Executor = db,
    ): Promise<boolean> {
      const { id: sourceId, botId } = job;
      return executor.transaction(async (trx) => {
        const locked = await trx('sources')
          .where({ id: sourceId, status: 'PROCESSING', lease_token: job.leaseToken })
          .forUpdate()
          .first('id');
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
          lease_token: null,
          updated_at: trx.fn.now(),
        });
        return true;
      });
    },

    /** Marks the source FAILED with `error`; false when the lease is no longer this worker's. */
    markFailed(job: Pick<SourceJob, 'id' | 'leaseToken'>, error: string, executor: Executor = db): Promise<boolean> {
      return endLease(executor, job, { status: 'FAILED', error });
    },

    /** Gives a claimed source back to the queue after a transient failure, to be retried after a delay. */
    release(
      job: Pick<SourceJob, 'id' | 'leaseToken'>,
      retryAfterMillis: number,
      executor: Executor = db,
    ): Promise<boolean> {
      return endLease(executor, job, {
        status: 'PENDING',
        available_at: executor.raw(`now() + make_interval(secs => ?)`, [retryAfterMillis / 1000]),
      });
    },

    /**
     * Gives a claimed source back to the queue unfinished, at once and with the attempt not
     * counted: its worker stopped it (shutting down), the source did nothing wrong. It keeps
     * its `available_at`, so it keeps its place in the queue. False when the lease is no longer
     * this worker's.
     */
    giveBack(job: Pick<SourceJob, 'id' | 'leaseToken'>, executor: Executor = db): Promise<boolean> {
      return endLease(executor, job, { status: 'PENDING', attempts: executor.raw('GREATEST(attempts - 1, 0)') });
    },
  };
}
