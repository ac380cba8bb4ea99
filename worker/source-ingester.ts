import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../src/config/config';
import type { Logger } from '../src/logger';
import type { SourceJob, SourcesRepo } from '../src/repos/sources';
import { chunkText } from '../src/search/chunker';
import type { Embedder } from '../src/search/embedder';
import { detectFormat, extractText, type ContentFormat } from '../src/sources/extract-text';
import { FetchUrlError, type UrlFetcher } from '../src/sources/fetch-url';

/** Attempts per source before an unexpected (non-content) failure marks it FAILED. */
const MAX_ATTEMPTS = 3;
/** Embedding in slices keeps one huge document from holding a long synchronous stretch. */
const EMBED_BATCH = 64;

/** The source's content cannot be indexed; the message is shown to the owner. */
export class SourceContentError extends Error {
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
   * first retry after a transient failure, each later retry waiting 4 times longer.
   */
  settings: Pick<Config['ingestion'], 'pollMillis' | 'concurrency' | 'leaseSeconds' | 'retryBaseMillis'>;
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

  async function textOf(job: SourceJob): Promise<string> {
    if (job.kind === 'URL') {
      const fetched = await options.fetcher.fetchText(job.url ?? '');
      const format = detectFormat({ contentType: fetched.contentType, filename: new URL(fetched.finalUrl).pathname });
      if (!format) {
        throw new SourceContentError(
          `The URL returned ${fetched.contentType ?? 'an unknown content type'}; only text, Markdown and HTML pages can be imported.`,
        );
      }
      return extractText(fetched.body, format);
    }
    return extractText(job.content ?? '', (job.contentFormat ?? 'text') as ContentFormat);
  }

  async function embedAll(chunks: string[]): Promise<{ content: string; embedding: number[] }[]> {
    const embedded: { content: string; embedding: number[] }[] = [];
    for (let start = 0; start < chunks.length; start += EMBED_BATCH) {
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
    try {
      const chunks = await embedAll(chunkText(await textOf(job)));
      if (chunks.length === 0) throw new SourceContentError('The source contains no words to index.');
      const stored = await sources.completeWithChunks(job.id, job.botId, chunks);
      jobLog.info({ chunks: chunks.length, stored, ms: Math.round(performance.now() - started) }, 'source ingested');
    } catch (error: unknown) {
      if (error instanceof SourceContentError || (error instanceof FetchUrlError && !error.transient)) {
        jobLog.info({ reason: error.message }, 'source failed');
        await sources.markFailed(job.id, error.message);
      } else if (job.attempts < MAX_ATTEMPTS) {
        // A site mid-deploy or a database fail-over needs time, not an immediate second try.
        const retryAfterMillis = settings.retryBaseMillis * 4 ** (job.attempts - 1);
        jobLog.warn({ err: error, retryAfterMillis }, 'source ingestion failed; will retry');
        await sources.release(job.id, retryAfterMillis);
      } else {
        jobLog.error({ err: error }, 'source ingestion failed for the last time');
        await sources.markFailed(
          job.id,
          error instanceof FetchUrlError
            ? error.message
            : 'Processing failed repeatedly; delete the source and add it again.',
        );
      }
    }
  }

  /** Claims and ingests one source; false when the queue is empty. */
  async function runOnce(): Promise<boolean> {
    const job = await sources.claimNext(settings.leaseSeconds);
    if (!job) return false;
    await ingest(job);
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
      if (!worked && !stopping) await sleep(settings.pollMillis, undefined, { signal: idle.signal }).catch(() => {});
    }
  }

  return {
    runOnce,
    start(): void {
      loops = Array.from({ length: settings.concurrency }, () => loop());
    },
    /** Finishes the sources in hand, then resolves. */
    async stop(): Promise<void> {
      stopping = true;
      idle.abort();
      await Promise.all(loops);
    },
  };
}
