import { newId } from '../../src/core/ids';
import { ABANDONED_SOURCE_ERROR, type SourceJob } from '../../src/repos/sources';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/** The worker's cap (worker/source-ingester.ts): the attempt after which a crashing source is given up. */
const MAX_ATTEMPTS = 3;
const SOURCE = `query($id: ID!) { source(id: $id) { id status error chunkCount } }`;

/**
 * The ingestion queue's lease rules, against the real PostgreSQL: a dead worker's source is
 * handed out again once its lease expires, the dead worker can no longer touch it, two
 * workers never get the same source, and a source that kills every worker is given up.
 * Leases are expired by moving `locked_at` back (the config's minimum lease is 10 s).
 */
describe('ingestion leases', () => {
  let app: TestApp;
  let owner: { token: string };
  let botId: string;
  let leaseSeconds: number;

  beforeAll(async () => {
    // Enough connections for the concurrent claims to really run side by side.
    app = await startTestApp({ DATABASE_POOL_MAX: '20' });
    owner = await signUpOwner(app, 'lease-owner');
    botId = (await createBot(app, owner.token, 'Lease bot')).id;
    leaseSeconds = app.config.ingestion.leaseSeconds;
  });
  afterAll(() => app?.close());
  beforeEach(async () => {
    // Each test sees only its own sources in the queue.
    await app.deps.db('sources').delete();
  });

  const claim = () => app.deps.repos.sources.claimNext(leaseSeconds, MAX_ATTEMPTS);
  const row = (id: string) => app.deps.db('sources').where({ id }).first();
  const chunkCount = async (sourceId: string) =>
    Number((await app.deps.db('source_chunks').where({ source_id: sourceId }).count({ n: '*' }))[0]?.n);

  async function addSource(text = 'The ferry leaves the harbour at seven every morning.'): Promise<string> {
    const { id } = await app.deps.repos.sources.create({
      id: newId(),
      botId,
      kind: 'TEXT',
      title: 'Ferry',
      content: text,
      contentFormat: 'text',
    });
    return id;
  }

  /** As if the worker holding `id` died a moment longer than a lease ago. */
  async function expireLease(id: string): Promise<void> {
    const updated = await app.deps
      .db('sources')
      .where({ id, status: 'PROCESSING' })
      .update({ locked_at: app.deps.db.raw('now() - make_interval(secs => ?)', [leaseSeconds + 1]) });
    expect(updated).toBe(1);
  }

  async function chunksFor(text: string) {
    const [embedding] = await app.deps.embedder.embed([text]);
    return [{ content: text, embedding: embedding! }];
  }

  it('hands an expired lease to the next claim and shuts the stale worker out', async () => {
    const id = await addSource();
    const dead = (await claim())!;
    expect(dead).toMatchObject({ id, attempts: 1 });
    // While the lease is live, nobody else gets the source.
    expect(await claim()).toBeUndefined();

    await expireLease(id);
    const fresh = (await claim())!;
    expect(fresh).toMatchObject({ id, attempts: 2 });
    expect(fresh.leaseToken).not.toBe(dead.leaseToken);

    const held = await row(id);
    expect(held).toMatchObject({ status: 'PROCESSING', lease_token: fresh.leaseToken, attempts: 2 });
    const chunks = await chunksFor('The ferry leaves at seven.');
    expect(await app.deps.repos.sources.completeWithChunks(dead, chunks)).toBe(false);
    expect(await app.deps.repos.sources.markFailed(dead, 'the stale worker gave up')).toBe(false);
    expect(await app.deps.repos.sources.release(dead, 0)).toBe(false);
    expect(await row(id)).toEqual(held);
    expect(await chunkCount(id)).toBe(0);

    // The holder of the current lease still can.
    expect(await app.deps.repos.sources.completeWithChunks(fresh, chunks)).toBe(true);
    const ready = await row(id);
    expect(ready).toMatchObject({ status: 'READY', chunk_count: 1, lease_token: null, locked_at: null });
    expect(await chunkCount(id)).toBe(1);
    // And the stale worker cannot undo it afterwards either.
    expect(await app.deps.repos.sources.markFailed(dead, 'late failure')).toBe(false);
    expect(await app.deps.repos.sources.release(dead, 0)).toBe(false);
    expect(await row(id)).toEqual(ready);
  });

  it("lets a running worker finish a dead worker's source once the lease expires", async () => {
    const id = await addSource();
    const dead = (await claim())!;
    expect(dead.id).toBe(id);
    // Its polls are counted, not waited for by the clock: on a busy machine 300 ms may hold none.
    const sources = app.deps.repos.sources;
    const claimNext = sources.claimNext;
    let polls = 0;
    sources.claimNext = async (...args) => {
      const job = await claimNext.apply(sources, args);
      polls++;
      return job;
    };
    const worker = app.startWorker();
    try {
      // Several finished polls in which it could (wrongly) have taken the live lease.
      await eventually(async () => polls >= 5);
      expect(await row(id)).toMatchObject({ status: 'PROCESSING', lease_token: dead.leaseToken, attempts: 1 });

      await expireLease(id);
      const source = await eventually(async () => {
        const current = (await app.gql(SOURCE, { id }, owner.token)).data?.source;
        return current?.status === 'PROCESSING' ? undefined : current;
      });
      expect(source).toMatchObject({ status: 'READY', error: null, chunkCount: 1 });
      expect(await row(id)).toMatchObject({ attempts: 2, lease_token: null });
      expect(await app.deps.repos.sources.completeWithChunks(dead, [])).toBe(false);
      expect(await chunkCount(id)).toBe(1);
    } finally {
      await worker.stop();
      sources.claimNext = claimNext;
    }
  });

  it('never gives two concurrent claims the same source', async () => {
    for (let round = 0; round < 10; round++) {
      const ids = await Promise.all(Array.from({ length: 8 }, () => addSource()));
      const jobs = await Promise.all(Array.from({ length: 12 }, () => claim()));
      const claimed = jobs.filter((job): job is SourceJob => job !== undefined);
      expect(claimed).toHaveLength(ids.length);
      expect(new Set(claimed.map((job) => job.id))).toEqual(new Set(ids));
      expect(new Set(claimed.map((job) => job.leaseToken)).size).toBe(claimed.length);
      const rows = await app.deps.db('sources').whereIn('id', ids).select('status', 'attempts');
      expect(rows.every((r) => r.status === 'PROCESSING' && r.attempts === 1)).toBe(true);
    }
  });

  it('gives a single source to exactly one of many concurrent claims', async () => {
    for (let round = 0; round < 10; round++) {
      const id = await addSource();
      const jobs = await Promise.all(Array.from({ length: 10 }, () => claim()));
      expect(jobs.filter((job) => job !== undefined).map((job) => job!.id)).toEqual([id]);
      expect(await row(id)).toMatchObject({ status: 'PROCESSING', attempts: 1 });
    }
  });

  it('marks a source whose worker died on every attempt FAILED instead of handing it out again', async () => {
    const crasher = await addSource('A document that takes down every worker that reads it.');
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const job = await claim();
      expect(job).toMatchObject({ id: crasher, attempts: attempt });
      await expireLease(crasher);
    }
    // A source on its last attempt whose worker is alive (lease not expired) is left to it.
    const busy = await addSource('Still being read by a live worker.');
    await app.deps
      .db('sources')
      .where({ id: busy })
      .update({ status: 'PROCESSING', attempts: MAX_ATTEMPTS, locked_at: app.deps.db.fn.now(), lease_token: newId() });
    const busyRow = await row(busy);

    // Nothing is left to hand out: the crasher is given up, not claimed a fourth time.
    expect(await claim()).toBeUndefined();
    expect(await row(crasher)).toMatchObject({
      status: 'FAILED',
      error: ABANDONED_SOURCE_ERROR,
      attempts: MAX_ATTEMPTS,
      lease_token: null,
      locked_at: null,
    });
    expect(await row(busy)).toEqual(busyRow);

    // The owner sees why, in words.
    const seen = (await app.gql(SOURCE, { id: crasher }, owner.token)).data!.source;
    expect(seen).toMatchObject({ status: 'FAILED', chunkCount: 0 });
    expect(seen.error).toMatch(/delete it and add it again/);
    expect(seen.error).not.toMatch(/Error:|undefined|\n\s+at /);
    // A later poll does not bring it back.
    expect(await claim()).toBeUndefined();
    expect((await row(crasher)).status).toBe('FAILED');
  });
});
