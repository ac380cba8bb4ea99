import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** libuv's thread pool size in this process: UV_THREADPOOL_SIZE, 4 unless set. */
const LIBUV_POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;

export interface LibuvPoolHold {
  /** Lets the held threads go; resolves once they are free again. */
  release(): Promise<void>;
}

/**
 * Occupies every thread of libuv's pool until `release()`, without the clock: each thread
 * opens a FIFO for reading, and such an open blocks until a writer opens the other end. Any
 * pool work queued meanwhile (fs, dns.lookup, libuv's crypto.scrypt) waits behind them, in
 * order, so code that needs the pool cannot finish before `release()`, however fast or slow
 * the machine is. Linux and macOS (`mkfifo`).
 */
export function holdLibuvPool(): LibuvPoolHold {
  const dir = mkdtempSync(join(tmpdir(), 'parley-libuv-hold-'));
  const fifos = Array.from({ length: LIBUV_POOL_SIZE }, (_, i) => join(dir, `fifo-${i}`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  const readers = fifos.map((fifo) => open(fifo, 'r'));
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= (async () => {
        for (const fifo of fifos) {
          // Non-blocking, on this thread: the open succeeds once the reader's open is waiting
          // (ENXIO until a pool thread has picked it up), and frees that thread.
          for (;;) {
            try {
              closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
              break;
            } catch (error: unknown) {
              if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
              await new Promise((resolve) => setImmediate(resolve));
            }
          }
        }
        const handles: FileHandle[] = await Promise.all(readers);
        await Promise.all(handles.map((handle) => handle.close()));
        rmSync(dir, { recursive: true, force: true });
      })();
      return released;
    },
  };
}
