/**
 * The worker thread that `extractChunksInThread` starts: turns one source into chunks and
 * reports on the port it was given. Runs only as a thread entry point.
 */
import { workerData } from 'node:worker_threads';
import { chunkText } from '../search/chunker';
import type { ExtractionJob, ExtractionMessage } from './extract-in-thread';
import { extractText } from './extract-text';

const { raw, format, port } = workerData as ExtractionJob;

function report(message: ExtractionMessage): void {
  port.postMessage(message);
}

report({ type: 'started' });
report({ type: 'done', chunks: chunkText(extractText(raw, format)) });
port.close();
