import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { chunkText } from '../../src/search/chunker';
import {
  extractChunksInThread,
  ExtractionThreadError,
  ExtractionTimeoutError,
} from '../../src/sources/extract-in-thread';
import { extractText, type ContentFormat } from '../../src/sources/extract-text';

/** About a megabyte of one-line paragraphs: a second or so of chunking. */
const SLOW_TEXT = Array.from({ length: 100_000 }, (_, i) => `Rule ${i}.`).join('\n\n');

describe('extractChunksInThread', () => {
  afterEach(() => jest.restoreAllMocks());

  it('returns the chunks that extraction and chunking give in-process', async () => {
    const html = '<html><head><title>Shop</title></head><body><h1>Returns</h1><p>Within 14 days.</p></body></html>';
    await expect(extractChunksInThread(html, 'html', { timeoutMillis: 10_000 })).resolves.toEqual(
      chunkText(extractText(html, 'html')),
    );
  });

  it('returns the chunks of a thread that finished while the event loop was busy', async () => {
    const text = 'Gift cards are valid for two years.';
    const chunks = extractChunksInThread(text, 'text', { timeoutMillis: 10_000 });
    // Blocked long enough for the thread to load, report and exit: its exit and both of its
    // messages then wait together, and the exit may be delivered first.
    const until = performance.now() + 1500;
    while (performance.now() < until);
    await expect(chunks).resolves.toEqual(chunkText(extractText(text, 'text')));
  });

  it('keeps the event loop turning while a slow document is processed', async () => {
    // A second or so of work, against a few turns of the loop: done on this thread, it would be
    // over before the first turn; in a thread of its own, it is still going after all of them.
    // Counted in turns, not timed: a busy machine slows both threads alike.
    const controller = new AbortController();
    let settled = false;
    const extraction = extractChunksInThread(SLOW_TEXT, 'text', { timeoutMillis: 60_000, signal: controller.signal });
    void extraction.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let turn = 0; turn < 20; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false);
    }
    controller.abort();
    await expect(extraction).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('stops a slow extraction at the time limit with a readable error, and ends its thread', async () => {
    const terminate = jest.spyOn(Worker.prototype, 'terminate');
    const failure = extractChunksInThread(SLOW_TEXT, 'text', { timeoutMillis: 20 });
    await expect(failure).rejects.toThrow(ExtractionTimeoutError);
    await expect(failure).rejects.toThrow(
      'Extracting text took longer than 20 ms; split the document or simplify its markup.',
    );
    expect(terminate).toHaveBeenCalledTimes(1);
    await terminate.mock.results[0]!.value;
    expect((terminate.mock.contexts[0] as Worker).threadId).toBe(-1);
  });

  it('ends the thread when the caller aborts, rejecting with the signal’s reason', async () => {
    const terminate = jest.spyOn(Worker.prototype, 'terminate');
    // The thread's own listeners are attached as it is made: the first `on` call is on it.
    const listen = jest.spyOn(Worker.prototype, 'on');
    const controller = new AbortController();
    const failure = extractChunksInThread(SLOW_TEXT, 'text', { timeoutMillis: 60_000, signal: controller.signal });
    const thread = listen.mock.contexts[0] as Worker;
    expect(thread).toBeInstanceOf(Worker);
    // Running (or loading its modules): the abort has a thread to end.
    await once(thread, 'online');
    const exited = once(thread, 'exit');
    controller.abort();
    const error = await failure.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    // A DOMException, of Node's realm, not jest's: compared by name.
    expect((error as Error).name).toBe('AbortError');
    expect(terminate).toHaveBeenCalledTimes(1);
    await exited;
    expect(thread.threadId).toBe(-1);
  });

  it('starts no thread when the signal has already aborted', async () => {
    const listen = jest.spyOn(Worker.prototype, 'on');
    const reason = new Error('worker stopping');
    await expect(
      extractChunksInThread(SLOW_TEXT, 'text', { timeoutMillis: 60_000, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    // No thread was made: none had listeners attached.
    expect(listen).not.toHaveBeenCalled();
  });

  it('reports a crash of the thread as an ExtractionThreadError', async () => {
    // An unknown format makes extractText return undefined, which chunkText cannot take.
    await expect(extractChunksInThread('text', 'pdf' as ContentFormat, { timeoutMillis: 10_000 })).rejects.toThrow(
      ExtractionThreadError,
    );
  });

  it('states long limits in seconds', () => {
    expect(new ExtractionTimeoutError(20_000).message).toBe(
      'Extracting text took longer than 20 s; split the document or simplify its markup.',
    );
  });
});
