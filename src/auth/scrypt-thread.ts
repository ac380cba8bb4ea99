/**
 * A thread of `createScryptPool`: runs one scrypt at a time, synchronously, on this thread
 * (never on libuv's pool, which file and DNS work share), and answers on its parent port.
 * Runs only as a thread entry point.
 */
import { scryptSync } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { ScryptReply, ScryptRequest } from './scrypt-pool';

const port = parentPort!;

port.on('message', (request: ScryptRequest) => {
  let reply: ScryptReply;
  try {
    const { N, r, p, maxmem } = request;
    const key = scryptSync(request.password, request.salt, request.keyBytes, { N, r, p, maxmem });
    reply = { id: request.id, key };
  } catch (error: unknown) {
    // Bad parameters (a stored hash with an impossible N) fail the job, not the thread.
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
