import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { scryptMaxmem, type Scrypt, type ScryptParams } from './passwords';

/** What a thread is asked: one scrypt. */
export interface ScryptRequest extends ScryptParams {
  id: number;
  password: string;
  salt: Uint8Array;
  keyBytes: number;
  maxmem: number;
}

/** What a thread answers: the key, or why scrypt refused. */
export type ScryptReply = { id: number; key: Uint8Array } | { id: number; error: string };

/** A thread died or the pool closed with the job unfinished: a fault of ours, not the password's. */
export class ScryptPoolError extends Error {
  override readonly name = 'ScryptPoolError';
}

/** `scrypt-thread.js` beside this file once compiled, `scrypt-thread.ts` under tsx or jest. */
const THREAD_FILE = join(__dirname, `scrypt-thread${extname(__filename)}`);

interface Job {
  request: ScryptRequest;
  resolve: (key: Buffer) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  job?: Job;
}

export interface ScryptPool {
  scrypt: Scrypt;
  /** Threads started so far (they start on first use and stay). */
  threads(): number;
  /** Ends every thread; jobs not finished reject with ScryptPoolError. */
  close(): Promise<void>;
}

/**
 * scrypt on `size` worker threads of its own, one hash per thread at a time, instead of on
 * libuv's thread pool: there, hashes (each 128 MiB and most of a second of CPU) held the
 * 4 threads that `fs` and `dns.lookup` wait on too, so a burst of log-ins stalled serving a
 * file for tens of seconds. Here the hashing threads are sized to the cores independently of
 * UV_THREADPOOL_SIZE, and file and DNS work never waits behind them.
 *
 * Threads start on first use and then stay (starting one costs far more than a hash message);
 * a thread that dies is replaced on the next job. Calls beyond `size` wait in order here, but
 * the api bounds them before this with its fair queue.
 */
export function createScryptPool(options: { size: number }): ScryptPool {
  const size = Math.max(1, options.size);
  const threads: Thread[] = [];
  const pending: Job[] = [];
  let nextId = 0;
  let closed = false;

  function spawn(): Thread {
    const worker = new Worker(THREAD_FILE, {
      // A worker thread cannot load TypeScript by itself: under tsx or jest it gets tsx's hook.
      execArgv: THREAD_FILE.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : undefined,
    });
    const thread: Thread = { worker };
    // An idle thread must not keep a process alive that has nothing else to do (a CLI, a test).
    worker.unref();
    worker.on('message', (reply: ScryptReply) => {
      const { job } = thread;
      if (job?.request.id !== reply.id) return;
      idle(thread);
      if ('key' in reply) job.resolve(Buffer.from(reply.key.buffer, reply.key.byteOffset, reply.key.byteLength));
      else job.reject(new Error(reply.error));
      pump();
    });
    const lost = (why: string, cause?: unknown) => {
      const index = threads.indexOf(thread);
      if (index === -1) return;
      threads.splice(index, 1);
      thread.job?.reject(new ScryptPoolError(why, { cause }));
      thread.job = undefined;
      pump();
    };
    worker.on('error', (error) => lost('A scrypt thread failed.', error));
    worker.on('exit', (code) => lost(`A scrypt thread exited with code ${code}.`));
    threads.push(thread);
    return thread;
  }

  function idle(thread: Thread): void {
    thread.job = undefined;
    thread.worker.unref();
  }

  function pump(): void {
    while (!closed && pending.length > 0) {
      const thread = threads.find((candidate) => !candidate.job) ?? (threads.length < size ? spawn() : undefined);
      if (!thread) return;
      const job = pending.shift()!;
      thread.job = job;
      // While it works for someone, the thread keeps the process alive until the answer is in.
      thread.worker.ref();
      thread.worker.postMessage(job.request);
    }
  }

  return {
    scrypt(password, salt, params, keyBytes) {
      if (closed) return Promise.reject(new ScryptPoolError('The scrypt pool is closed.'));
      return new Promise<Buffer>((resolve, reject) => {
        const request: ScryptRequest = {
          id: ++nextId,
          password,
          salt,
          keyBytes,
          ...params,
          maxmem: scryptMaxmem(params),
        };
        pending.push({ request, resolve, reject });
        pump();
      });
    },

    threads: () => threads.length,

    async close() {
      closed = true;
      for (const job of pending.splice(0)) job.reject(new ScryptPoolError('The scrypt pool closed.'));
      const stopping = threads.splice(0);
      for (const thread of stopping) thread.job?.reject(new ScryptPoolError('The scrypt pool closed.'));
      await Promise.all(stopping.map((thread) => thread.worker.terminate()));
    },
  };
}
