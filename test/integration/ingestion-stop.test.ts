import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { newId } from '../../src/core/ids';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const CREATE_SOURCE = `mutation($input: CreateSourceInput!) { createSource(input: $input) { id status } }`;
const SOURCE = `query($id: ID!) { source(id: $id) { id status error chunkCount } }`;
const PAGE_TEXT = 'Opening hours. The shop opens at eight on weekdays and at ten on Saturdays.';

/** True if `promise` settles within `millis`, false if it is still pending then. */
async function settlesWithin(promise: Promise<unknown>, millis: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), millis)));
  try {
    return await Promise.race([promise.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A page on loopback that holds every request open until `answer()`, and answers at once
 * from then on. `closed()` resolves once every connection it was asked on has closed.
 */
async function startHoldingPage() {
  const held: ServerResponse[] = [];
  const closed: Promise<unknown>[] = [];
  let answering = false;
  let requests = 0;
  const reply = (response: ServerResponse) =>
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(PAGE_TEXT);
  const server = createServer((_request, response) => {
    requests += 1;
    closed.push(once(response, 'close'));
    if (answering) reply(response);
    else held.push(response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hours.txt`,
    requests: () => requests,
    answer(): void {
      answering = true;
      for (const response of held.splice(0)) if (!response.destroyed) reply(response);
    },
    closed: () => Promise.all(closed),
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * What `stop({ graceMillis })` does with the sources a worker holds: it lets them finish
 * within the grace, and gives back what is still fetching or extracting after it, at once
 * and without counting the attempt, so that the next worker takes it as if it were new.
 */
describe('stopping ingestion', () => {
  let app: TestApp;
  let owner: { token: string };
  let botId: string;
  let page: Awaited<ReturnType<typeof startHoldingPage>>;

  beforeAll(async () => {
    app = await startTestApp({
      // Far beyond the graces below: only `stop` can end these fetches and extractions early.
      URL_FETCH_TIMEOUT_MILLIS: '20000',
      INGEST_EXTRACT_TIMEOUT_MILLIS: '60000',
    });
    owner = await signUpOwner(app, 'stop-owner');
    botId = (await createBot(app, owner.token, 'Stop bot')).id;
  });
  afterAll(() => app?.close());
  beforeEach(async () => {
    // Each test sees only its own sources in the queue.
    await app.deps.db('sources').delete();
    page = await startHoldingPage();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await page.close();
  });

  async function createSource(input: Record<string, string>): Promise<string> {
    const response = await app.gql(CREATE_SOURCE, { input: { botId, ...input } }, owner.token);
    expect(response.errors).toBeUndefined();
    return response.data!.createSource.id;
  }
  const row = (id: string) =>
    app.deps
      .db('sources')
      .where({ id })
      .first('status', 'attempts', 'lease_token', 'locked_at', 'error', 'chunk_count');
  const chunkCount = async (id: string) =>
    Number((await app.deps.db('source_chunks').where({ source_id: id }).count({ n: '*' }))[0]?.n);

  it('gives back a source whose fetch outlasts the grace, and a later worker ingests it', async () => {
    const id = await createSource({ kind: 'URL', title: 'Opening hours', url: page.url });
    expect(await row(id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    const worker = app.startWorker();
    await eventually(async () => page.requests() > 0);
    expect(await row(id)).toMatchObject({ status: 'PROCESSING', attempts: 1 });

    // The page never answers on its own: stopping at all means the fetch was aborted (its own
    // 20 s limit would end it as a failed try, which the row below would show).
    await worker.stop({ graceMillis: 200 });
    expect(await row(id)).toMatchObject({
      status: 'PENDING',
      attempts: 0,
      lease_token: null,
      locked_at: null,
      error: null,
      chunk_count: 0,
    });
    // The worker let go of the connection, rather than leave the request running.
    await page.closed();
    // The owner sees it waiting, not failed or timed out.
    expect((await app.gql(SOURCE, { id }, owner.token)).data?.source).toMatchObject({ status: 'PENDING', error: null });

    page.answer();
    const later = app.startWorker();
    try {
      const source = await eventually(async () => {
        const current = (await app.gql(SOURCE, { id }, owner.token)).data?.source;
        return ['READY', 'FAILED'].includes(current?.status) ? current : undefined;
      });
      expect(source).toMatchObject({ status: 'READY', error: null, chunkCount: 1 });
      expect(await row(id)).toMatchObject({ attempts: 1, lease_token: null });
      expect(page.requests()).toBe(2);
    } finally {
      await later.stop();
    }
  });

  it('lets a source that finishes within the grace complete normally', async () => {
    const id = await createSource({ kind: 'URL', title: 'Opening hours', url: page.url });
    const worker = app.startWorker();
    await eventually(async () => page.requests() > 0);

    const stopped = worker.stop({ graceMillis: 10_000 });
    // Still waiting for the source in hand, not giving it back.
    expect(await settlesWithin(stopped, 300)).toBe(false);
    page.answer();
    await stopped;

    expect(await row(id)).toMatchObject({
      status: 'READY',
      attempts: 1,
      lease_token: null,
      locked_at: null,
      error: null,
      chunk_count: 1,
    });
    expect(await chunkCount(id)).toBe(1);
    expect(page.requests()).toBe(1);
  });

  it('gives back only while the lease is still the worker’s', async () => {
    const id = await createSource({ kind: 'TEXT', title: 'Ferry', text: 'The ferry leaves at seven.' });
    const job = (await app.deps.repos.sources.claimNext(app.config.ingestion.leaseSeconds, 3))!;
    expect(job).toMatchObject({ id, attempts: 1 });
    // As if the lease had expired and another worker had claimed the source since.
    await app.deps.db('sources').where({ id }).update({ lease_token: newId(), attempts: 2 });
    const held = await row(id);
    expect(await app.deps.repos.sources.giveBack(job)).toBe(false);
    expect(await row(id)).toEqual(held);
  });

  it('ends the extraction thread of a source still being extracted after the grace, and gives the source back', async () => {
    // The extraction thread's listeners are attached as it is made: the first `on` call is on it.
    const listen = jest.spyOn(Worker.prototype, 'on');
    const terminate = jest.spyOn(Worker.prototype, 'terminate');
    // 900,000 characters (a TEXT source may have 1,000,000) in 70,000 paragraphs: the better
    // part of a second to start the thread and chunk, against a 60 s limit.
    const text = Array.from({ length: 70_000 }, (_, i) => `Rule ${i}.`).join('\n\n');
    const id = await createSource({ kind: 'TEXT', title: 'Rule book', text });
    const worker = app.startWorker();
    const thread = await eventually(async () => listen.mock.contexts[0] as Worker | undefined);
    expect(thread).toBeInstanceOf(Worker);

    await worker.stop({ graceMillis: 20 });
    // Ended, not waited for: a finished extraction would have left the source READY.
    expect(terminate).toHaveBeenCalled();
    // The thread has ended: nothing of the extraction lingers.
    await eventually(async () => thread.threadId === -1);
    expect(await row(id)).toMatchObject({
      status: 'PENDING',
      attempts: 0,
      lease_token: null,
      locked_at: null,
      error: null,
      chunk_count: 0,
    });
    expect(await chunkCount(id)).toBe(0);
  });
});
