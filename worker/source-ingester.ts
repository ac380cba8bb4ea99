import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../src/config/config';
import type { Logger } from '../src/core/logger';
import { isTransientDbError } from '../src/platform/postgres/pg-errors';
import type { SourceJob, SourcesRepo } from '../src/repos/sources';
import type { Embedder } from '../src/search/embedder';
import { ExtractionThreadError, ExtractionTimeoutError, extractChunksInThread } from '../src/sources/extract-in-thread';
import type { ContentFormat } from '../src/sources/extract-text';
import { FetchUrlError, type UrlFetcher } from '../src/sources/fetch-url';

/** Attempts per source before an unexpected (non-content) failure marks it FAILED. */
const MAX_ATTEMPTS = 3;
const UNEXPECTED_FAILURE = 'Processing failed unexpectedly; delete the source and add it again.';
/** Embedding in slices keeps one huge document from holding a long synchronous stretch. */
const EMBED_BATCH = 64;

/** The source's content cannot be indexed; the message is shown to the owner. */
class SourceContentError extends Error {
  override readonly name = 'SourceContentError';
}

export interface SourceIngesterOptions {
  sources: SourcesRepo;
  fetcher: UrlFetcher;
  embedder: Embedder;
  log: Logger;
  /**
   * From `Config['ingestion']`: `pollMillis` idle wait between polls of an empty queue;
   * `concurrency` sources processed at once by this process; `leaseSeconds` after which a
   * PROCESSING source is taken to belong to a dead worker; `retryBaseMillis` wait before the
   * first retry after a transient failure, each later retry waiting 4 times longer;
   * `extractTimeoutMillis` time a source's extraction and chunking may take before it fails.
   */
  settings: Pick<
    Config['ingestion'],
    'pollMillis' | 'concurrency' | 'leaseSeconds' | 'retryBaseMillis' | 'extractTimeoutMillis'
  >;
  /**
   * Called after each change of a source's status or chunks has committed (claimed, then
   * READY, FAILED or back to PENDING), so caches of the source and its bot's searches are
   * invalidated. Must not throw.
   */
  onSourceChanged?: (source: { id: string; botId: string }) => Promise<void>;
  /** The idle wait between polls; rejects when `signal` aborts. A test passes its own. */
  sleep?: (millis: number, signal: AbortSignal) => Promise<void>;
}

export interface StopOptions {
  /**
   * How long the sources in hand may take to finish; then their fetch or extraction is aborted
   * and they go back to the queue with the attempt not counted. Unlimited by default.
   */
  graceMillis?: number;
}

export type SourceIngester = ReturnType<typeof createSourceIngester>;

/**
 * Turns PENDING sources into READY chunks: fetch or read, extract text, chunk, embed,
 * store. The `sources` table is the queue (claimed with SKIP LOCKED), so any number of
 * workers can run side by side.
 */
export function createSourceIngester(options: SourceIngesterOptions) {
  const { sources, log, settings } = options;
  let stopping = false;
  const idle = new AbortController();
  let loops: Promise<void>[] = [];
  /** One per source in hand, aborted when `stop`'s grace runs out. */
  const inHand = new Set<AbortController>();
  let halted = false;
  const idleWait = options.sleep ?? ((millis, signal) => sleep(millis, undefined, { signal }));
  /**
   * While the queue is empty one loop polls it and the others wait for that one to find work:
   * every loop polling on its own would cost PostgreSQL a transaction a loop a poll, all day.
   */
  let polling = false;
  const waiting = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of [...waiting]) wake();
  };

  /** Until the next poll (this loop polls) or until the polling loop finds work. */
  async function waitForWork(): Promise<void> {
    if (polling) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          waiting.delete(wake);
          resolve();
        };
        waiting.add(wake);
      });
      return;
    }
    polling = true;
    try {
      await idleWait(settings.pollMillis, idle.signal).catch(() => {});
    } finally {
      polling = false;
    }
  }

  /** Ends the grace: every source in hand (and any still being claimed) stops at its next step. */
  function halt(): void {
    halted = true;
    for (const controller of inHand) controller.abort();
  }

  async function contentOf(job: SourceJob, signal: AbortSignal): Promise<{ raw: string; format: ContentFormat }> {
    if (job.kind === 'URL') {
      // The fetcher refuses content types it has no format for, before downloading the body.
      const fetched = await options.fetcher.fetchText(job.url ?? '', { signal });
      return { raw: fetched.body, format: fetched.format };
    }
    return { raw: job.content ?? '', format: (job.contentFormat ?? 'text') as ContentFormat };
  }

  /** Extraction and chunking run in a thread: a slow document must not stall the other sources. */
  async function chunksOf(job: SourceJob, signal: AbortSignal): Promise<string[]> {
    const { raw, format } = await contentOf(job, signal);
    try {
      return await extractChunksInThread(raw, format, { timeoutMillis: settings.extractTimeoutMillis, signal });
    } catch (error: unknown) {
      // Too slow is a property of the document: another attempt would take as long again.
      if (error instanceof ExtractionTimeoutError) throw new SourceContentError(error.message);
      throw error;
    }
  }

  async function embedAll(chunks: string[], signal: AbortSignal): Promise<{ content: string; embedding: number[] }[]> {
    const embedded: { content: string; embedding: number[] }[] = [];
    for (let start = 0; start < chunks.length; start += EMBED_BATCH) {
      signal.throwIfAborted();
      const batch = chunks.slice(start, start + EMBED_BATCH);
      const vectors = await options.embedder.embed(batch);
      batch.forEach((content, i) => {
        const embedding = vectors[i];
        // A chunk of only symbols or stop words has no direction: cosine is undefined for it.
        if (embedding && embedding.some((x) => x !== 0)) embedded.push({ content, embedding });
      });
    }
    return embedded;
  }

  async function ingest(job: SourceJob): Promise<void> {
    const jobLog = log.child({ sourceId: job.id, botId: job.botId, kind: job.kind, attempt: job.attempts });
    const started = performance.now();
    const abort = new AbortController();
    inHand.add(abort);
    // Claimed after the grace ran out: it goes straight back.
    if (halted) abort.abort();
    try {
      abort.signal.throwIfAborted();
      const chunks = await embedAll(await chunksOf(job, abort.signal), abort.signal);
      if (chunks.length === 0) throw new SourceContentError('The source contains no words to index.');
      // Not abortable from here on: the work is done, and the write is one short transaction.
      const stored = await sources.completeWithChunks(job, chunks);
      // The source is READY whatever the cache does: a failure here must not reach the failure handling below.
      jobLog.info({ chunks: chunks.length, stored, ms: Math.round(performance.now() - started) }, 'source ingested');
    } catch (error: unknown) {
      if (abort.signal.aborted) {
        // Stopped by `stop`, whatever the step threw: the source is not to blame, so another
        // worker takes it at once and the interrupted try does not use up one of its attempts.
        try {
          const givenBack = await sources.giveBack(job);
          jobLog.info({ givenBack, ms: Math.round(performance.now() - started) }, 'source given back unfinished');
        } catch (giveBackError: unknown) {
          // Shutdown goes on regardless: the lease expires and another worker takes the source then.
          jobLog.error({ err: giveBackError }, 'could not give the source back; it waits for its lease to expire');
        }
        return;
      }
      // A crashed extraction thread (memory pressure, say) may well succeed on another try.
      const transient =
        error instanceof FetchUrlError
          ? error.transient
          : error instanceof ExtractionThreadError || isTransientDbError(error);
      if (error instanceof SourceContentError || (error instanceof FetchUrlError && !transient)) {
        jobLog.info({ reason: error.message }, 'source failed');
        await sources.markFailed(job, error.message);
      } else if (!transient) {
        // A bug fails the same way every time: retrying would only hide it for longer.
        jobLog.error({ err: error }, 'source ingestion failed unexpectedly');
        await sources.markFailed(job, UNEXPECTED_FAILURE);
      } else if (job.attempts < MAX_ATTEMPTS) {
        // A site mid-deploy or a database fail-over needs time, not an immediate second try.
        const retryAfterMillis = settings.retryBaseMillis * 4 ** (job.attempts - 1);
        jobLog.warn({ err: error, retryAfterMillis }, 'source ingestion failed; will retry');
        await sources.release(job, retryAfterMillis);
      } else {
        jobLog.error({ err: error }, 'source ingestion failed for the last time');
        await sources.markFailed(
          job,
          error instanceof FetchUrlError
            ? error.message
            : 'Processing failed repeatedly; delete the source and add it again.',
        );
      }
    } finally {
      inHand.delete(abort);
    }
  }

  const changed = async (job: SourceJob) => {
    await options.onSourceChanged?.({ id: job.id, botId: job.botId }).catch((error: unknown) => {
      log.error({ err: error, sourceId: job.id }, 'could not invalidate the cached source');
    });
  };

  /** Claims and ingests one source; false when the queue is empty. */
  async function runOnce(): Promise<boolean> {
    const job = await sources.claimNext(settings.leaseSeconds, MAX_ATTEMPTS);
    if (!job) return false;
    // Work found: the loops waiting for the polling one join in, in case there is more.
    wakeAll();
    await changed(job);
    await ingest(job);
    await changed(job);
    return true;
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      let worked = false;
      try {
        worked = await runOnce();
      } catch (error: unknown) {
        // The database is down or restarting: back off and try again, never exit.
        log.error({ err: error }, 'could not claim a source');
      }
      if (!worked && !stopping) await waitForWork();
    }
  }

  return {
    runOnce,
    start(): void {
      loops = Array.from({ length: settings.concurrency }, () => loop());
    },
    /**
     * Stops claiming and lets the sources in hand finish for up to `graceMillis`; then aborts
     * their fetch or extraction and gives them back to the queue. Resolves once every source
     * in hand is finished or given back.
     */
    async stop(stopOptions: StopOptions = {}): Promise<void> {
      const { graceMillis } = stopOptions;
      stopping = true;
      idle.abort();
      wakeAll();
      // setTimeout would take Infinity as 1 ms.
      const grace =
        graceMillis !== undefined && Number.isFinite(graceMillis) ? setTimeout(halt, graceMillis) : undefined;
      try {
        await Promise.all(loops);
      } finally {
        clearTimeout(grace);
      }
    },
  };
}
