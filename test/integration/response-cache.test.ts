import {
  createBot,
  errorCode,
  eventually,
  listenForInvalidations,
  signUpOwner,
  startAnotherInstance,
  startTestApp,
  type TestApp,
} from '../helpers/test-app';
import { createIngester } from '../../worker/worker';
import type { SourceIngester } from '../../worker/source-ingester';

const BOT = `query($id: ID!) { bot(id: $id) { id name instructions owner { id } sources { id title status } } }`;
const RENAME = `mutation($id: ID!, $name: String!) { updateBot(id: $id, input: { name: $name }) { id } }`;
const CREATE_SOURCE = `mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }`;
const SEARCH = `query($b: ID!, $q: String!) { search(botId: $b, query: $q, limit: 3) { sourceId } }`;

describe('whole query results cached in each api (two instances, a worker, real Redis and PostgreSQL)', () => {
  let first: TestApp;
  let second: TestApp;
  let ingester: SourceIngester;
  let owner: { token: string; userId: string };
  /** What each instance has heard invalidated. */
  const listeners = new Map<TestApp, ReturnType<typeof listenForInvalidations>>();

  beforeAll(async () => {
    first = await startTestApp({ REDIS_ENABLED: 'true' });
    second = await startAnotherInstance(first);
    for (const app of [first, second]) listeners.set(app, listenForInvalidations(app));
    ingester = createIngester(first.deps, { ...first.config.ingestion, concurrency: 1 });
    ingester.start();
    owner = await signUpOwner(first, 'responses');
  });
  afterAll(async () => {
    await ingester?.stop();
    await second?.close().catch(() => undefined);
    await first?.close();
  });

  const stats = (app: TestApp) => app.deps.responseCache!.stats();
  /** Waits until `app` has heard `key` invalidated `times` times in all: the event, not a delay. */
  const heard = (app: TestApp, key: string, times = 1) => listeners.get(app)!.heard(key, times);
  const keys = () => first.deps.cache!.keys;

  async function read(app: TestApp, query: string, variables: Record<string, unknown>, token = owner.token) {
    const response = await app.gql(query, variables, token);
    expect(response.errors).toBeUndefined();
    return response.data!;
  }

  it('answers a repeated query from the cache, with what running it answers', async () => {
    const bot = await createBot(first, owner.token, 'Cached whole');
    // Heard here first: an invalidation arriving during the read would keep it out of the cache.
    await heard(second, keys().botsByUser(owner.userId));
    const ran = await read(second, BOT, { id: bot.id });
    const before = stats(second);
    const cached = await read(second, BOT, { id: bot.id });
    expect(cached).toEqual(ran);
    expect(stats(second).hits).toBe(before.hits + 1);
  });

  it('is never stale: an update through either instance, or by the worker, shows on both', async () => {
    const bot = await createBot(first, owner.token, 'Before');
    for (const app of [first, second]) await read(app, BOT, { id: bot.id });
    for (const [i, writer] of [first, second].entries()) {
      const name = `Renamed ${i}`;
      expect((await writer.gql(RENAME, { id: bot.id, name }, owner.token)).errors).toBeUndefined();
      for (const app of [first, second]) {
        await heard(app, keys().bot(bot.id), i + 1);
        expect((await read(app, BOT, { id: bot.id })).bot.name).toBe(name);
      }
    }
    // The worker ingests a source: PENDING, then READY, both seen wherever the result was cached.
    const created = await first.gql(
      CREATE_SOURCE,
      { input: { botId: bot.id, kind: 'TEXT', title: 'Hours', text: 'Open from nine to five.' } },
      owner.token,
    );
    const sourceId = created.data!.createSource.id as string;
    await eventually(async () => (await first.deps.db('sources').where({ id: sourceId }).first())?.status === 'READY');
    await eventually(async () =>
      (await Promise.all([first, second].map((app) => read(app, BOT, { id: bot.id })))).every(
        (data) => data.bot.sources[0]?.status === 'READY',
      ),
    );
  });

  it('never serves one viewer’s result to another', async () => {
    const bot = await createBot(first, owner.token, 'Mine');
    const mine = await read(first, BOT, { id: bot.id });
    expect(mine.bot.owner.id).toBe(owner.userId);
    const other = await signUpOwner(first, 'other-viewer');
    const theirs = await first.gql(BOT, { id: bot.id }, other.token);
    expect(errorCode(theirs)).toBe('FORBIDDEN');
    expect(JSON.stringify(theirs)).not.toContain(owner.userId);
    expect(errorCode(await first.gql(BOT, { id: bot.id }))).toBe('UNAUTHENTICATED');
  });

  it('does not store what invalidations do not cover: message counters and conversations', async () => {
    const bot = await createBot(first, owner.token, 'Counted');
    const counted = `query($id: ID!) { bot(id: $id) { id messageCount } }`;
    await read(first, counted, { id: bot.id });
    const before = stats(first).hits;
    await read(first, counted, { id: bot.id });
    await read(first, `query($id: ID!) { bot(id: $id) { id conversations { id } } }`, { id: bot.id });
    await read(first, `query($id: ID!) { bot(id: $id) { id conversations { id } } }`, { id: bot.id });
    expect(stats(first).hits).toBe(before);
  });

  it('answers a search again from the cache until the bot’s chunks change', async () => {
    const bot = await createBot(first, owner.token, 'Searched');
    const add = async (title: string, text: string) => {
      const response = await first.gql(
        CREATE_SOURCE,
        { input: { botId: bot.id, kind: 'TEXT', title, text } },
        owner.token,
      );
      const id = response.data!.createSource.id as string;
      await eventually(async () => (await first.deps.db('sources').where({ id }).first())?.status === 'READY');
      return id;
    };
    // A created source is three changes of the bot's chunks: the api's, the worker's claim and READY.
    const chunks = keys().botChunks(bot.id);
    const refunds = await add('Refunds', 'Refunds are paid within 30 days of purchase.');
    await heard(second, chunks, 3);
    expect((await read(second, SEARCH, { b: bot.id, q: 'refund' })).search).toEqual([{ sourceId: refunds }]);
    const hits = stats(second).hits;
    expect((await read(second, SEARCH, { b: bot.id, q: 'refund' })).search).toEqual([{ sourceId: refunds }]);
    expect(stats(second).hits).toBe(hits + 1);
    const more = await add('Refund exceptions', 'A refund for gift cards is paid as store credit.');
    await heard(second, chunks, 6);
    expect(
      (await read(second, SEARCH, { b: bot.id, q: 'refund' })).search.map((hit: { sourceId: string }) => hit.sourceId),
    ).toContain(more);
  });
});

describe('the response cache while rate limits are on', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      REDIS_ENABLED: 'true',
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_GLOBAL_PER_MIN: '100000',
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_USER_PER_MIN: '3',
    });
  });
  afterAll(() => app.close());

  it('never answers a rate-limited query from the cache, so every search is counted', async () => {
    const owner = await signUpOwner(app, 'limited-searches');
    const bot = await createBot(app, owner.token, 'Limited');
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await app.gql(SEARCH, { b: bot.id, q: 'anything' }, owner.token));
    // Three a minute for the user: were any served from the cache, more would pass.
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429, 429]);
    // An unlimited query is still cached.
    const read = () => app.gql(`query($id: ID!) { bot(id: $id) { id name } }`, { id: bot.id }, owner.token);
    await read();
    const hits = app.deps.responseCache!.stats().hits;
    await read();
    expect(app.deps.responseCache!.stats().hits).toBe(hits + 1);
  });
});
