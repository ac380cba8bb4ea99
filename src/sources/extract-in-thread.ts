import { extname, join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { ContentFormat } from './extract-text';

/** What the thread gets: one source's content. */
export interface ExtractionJob {
  raw: string;
  format: ContentFormat;
  /** Where the thread reports; a port of our own lets a timeout look for a result already sent. */
  port: MessagePort;
}

/** What the thread reports: `started` once its modules are loaded, then the chunks. */
export type ExtractionMessage = { type: 'started' } | { type: 'done'; chunks: string[] };

/** Loading the thread's modules (compiling TypeScript, under tsx or jest) is not the source's fault. */
const STARTUP_TIMEOUT_MILLIS = 30_000;

/** `extract-thread.js` beside this file once compiled, `extract-thread.ts` under tsx or jest. */
const THREAD_FILE = join(__dirname, `extract-thread${extname(__filename)}`);

function formatDuration(millis: number): string {
  return millis >= 1000 ? `${millis / 1000} s` : `${millis} ms`;
}

/** Extraction took longer than its limit; the message is safe to show an owner. */
export class ExtractionTimeoutError extends Error {
  override readonly name = 'ExtractionTimeoutError';

  constructor(readonly timeoutMillis: number) {
    super(
      `Extracting text took longer than ${formatDuration(timeoutMillis)}; split the document or simplify its markup.`,
    );
  }
}

/** The thread failed to start, crashed or ran out of memory: a fault of ours, not the source's. */
export class ExtractionThreadError extends Error {
  override readonly name = 'ExtractionThreadError';
}

/**
 * Turns a source into chunks (`chunkText(extractText(raw, format))`) in a worker thread of its
 * own, so that a document that is slow to process never blocks the event loop, and stops it
 * once it has run for `timeoutMillis`, counted from when the thread has loaded its modules.
 *
 * A thread per source costs tens of milliseconds to start, little next to embedding; it makes
 * a timeout simple and sure: `terminate()` ends the thread wherever it is.
 *
 * `signal` (none by default) stops it early the same way, at any point: a worker that is
 * shutting down gives the source back rather than wait for it.
 *
 * @throws ExtractionTimeoutError when the limit is reached.
 * @throws ExtractionThreadError when the thread does not start or ends without a result.
 * @throws the signal's reason (an `AbortError` unless the caller gave another) when `signal`
 *   aborts first; no thread is started for a signal already aborted.
 */
export function extractChunksInThread(
  raw: string,
  format: ContentFormat,
  options: { timeoutMillis: number; signal?: AbortSignal },
): Promise<string[]> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const { port1, port2 } = new MessageChannel();
    const job: ExtractionJob = { raw, format, port: port2 };
    const worker = new Worker(THREAD_FILE, {
      workerData: job,
      transferList: [port2],
      // A worker thread cannot load TypeScript by itself: under tsx or jest it gets tsx's hook.
      execArgv: THREAD_FILE.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : undefined,
    });
    let settled = false;
    let timer = setTimeout(() => {
      finish(() =>
        reject(new ExtractionThreadError(`The extraction thread did not start within ${STARTUP_TIMEOUT_MILLIS} ms.`)),
      );
    }, STARTUP_TIMEOUT_MILLIS);

    function onAbort(): void {
      finish(() => reject(signal?.reason));
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    function finish(settle: () => void): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      port1.close();
      void worker.terminate();
      settle();
    }

    /**
     * Settles with a result the thread has sent but the event loop has not delivered yet (it may
     * be queued behind the timer or the exit event that calls this); false when there is none.
     */
    function takeQueuedResult(): boolean {
      // `started` may be queued ahead of the result: a thread that finished while this thread was
      // busy reports its exit before either message is delivered.
      for (let queued = receiveMessageOnPort(port1); queued; queued = receiveMessageOnPort(port1)) {
        const message = queued.message as ExtractionMessage;
        if (message.type !== 'done') continue;
        finish(() => resolve(message.chunks));
        return true;
      }
      return false;
    }

    function onMessage(message: ExtractionMessage): void {
      if (message.type === 'done') {
        finish(() => resolve(message.chunks));
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!takeQueuedResult()) finish(() => reject(new ExtractionTimeoutError(options.timeoutMillis)));
      }, options.timeoutMillis);
    }

    port1.on('message', onMessage);
    worker.on('error', (error) => {
      finish(() => reject(new ExtractionThreadError('The extraction thread failed.', { cause: error })));
    });
    worker.on('exit', (code) => {
      if (settled || takeQueuedResult()) return;
      finish(() => reject(new ExtractionThreadError(`The extraction thread exited with code ${code} and no result.`)));
    });
  });
}
