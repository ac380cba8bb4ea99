import type { ChunkMatch } from '../../src/repos/chunks';
import { DEMO_BOTS } from '../../src/cli/seeds/demo-content';
import { createRetriever, type Retriever } from '../../src/search/retriever';
import type { SourceIngester } from '../../worker/source-ingester';
import { createIngester } from '../../worker/worker';
import {
  createBot,
  eventually,
  listenForInvalidations,
  signUpOwner,
  startAnotherInstance,
  startTestApp,
  type TestApp,
} from '../helpers/test-app';

const CREATE_SOURCE = `mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }`;
const DELETE_SOURCE = `mutation($id: ID!) { deleteSource(id: $id) }`;
const SEARCH = `query($botId: ID!, $query: String!, $limit: Int) {
  search(botId: $botId, query: $query, limit: $limit) { sourceId content score }
}`;
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { content } } }`;

/** The benchmark's sources (load/lib/workload.mjs), one bot's worth. */
const BENCH_TOPICS = [
  'Refunds are accepted within 30 days of purchase with a receipt. Our refund policy covers unopened items.',
  'We are open Monday to Friday 8am to 6pm and on Saturday from 9am to 1pm. Opening hours may change on holidays.',
  'Shipping abroad takes 5 to 10 business days. Gift cards are valid for two years. Warranty repair takes a week.',
];
const QUESTIONS = [
  'When are you open on Saturday?',
  'Do you sell decaf beans by the kilo?',
  'Can I get a refund on a gift card?',
  'How long does shipping abroad take?',
  'Do you have oat milk?',
  'where do I park my bicycle',
  'Is the espresso blend roasted dark? What notes does it have?',
  'warranty repair for a broken grinder, how long',
  'Opening hours on public holidays',
  'zzz nothing matches this at all',
];

/** Same chunks in the same order, scores equal to what float4 sums in PostgreSQL allow. */
function expectSameRanking(inMemory: ChunkMatch[], postgres: ChunkMatch[]): void {
  expect(inMemory.map(({ sourceId, content }) => ({ sourceId, content }))).toEqual(
    postgres.map(({ sourceId, content }) => ({ sourceId, content })),
  );
  inMemory.forEach((match, i) => expect(Math.abs(match.score - postgres[i]!.score)).toBeLessThan(1e-5));
}

describe('bots’ chunks ranked in process (real PostgreSQL and Redis, two api instances)', () => {
  let first: TestApp;
  let second: TestApp;
  let owner: { token: string };
  let ingester: SourceIngester;
  /** What PostgreSQL's index answers, the chunk memory bypassed. */
  let postgres: Retriever;
  /** Statements of the second instance that read `source_chunks`, by kind. */
  const chunkReads = { nearest: 0, load: 0 };

  beforeAll(async () => {
    first = await startTestApp({ REDIS_ENABLED: 'true' });
    second = await startAnotherInstance(first);
    owner = await signUpOwner(first, 'chunk-memory');
    // The worker as worker/main.ts runs it: its changes reach every instance's memory.
    ingester = createIngester(first.deps, { ...first.config.ingestion, concurrency: 1 });
    ingester.start();
    postgres = createRetriever({ embedder: second.deps.embedder, chunks: second.deps.repos.chunks });
    heardOnSecond = listenForInvalidations(second);
    second.deps.db.on('query', (query: { sql: string }) => {
      if (query.sql.includes('vector_send')) chunkReads.load++;
      else if (query.sql.includes('source_chunks')) chunkReads.nearest++;
    });
  });
  afterAll(async () => {
    await ingester?.stop();
    await second?.close().catch(() => undefined);
    await first?.close();
  });

  const memory = () => second.deps.chunkMemory!;

  async function addSource(app: TestApp, botId: string, title: string, text: string): Promise<string> {
    const created = await app.gql(CREATE_SOURCE, { input: { botId, kind: 'TEXT', title, text } }, owner.token);
    expect(created.errors).toBeUndefined();
    const id: string = created.data!.createSource.id;
    await eventually(async () => (await app.deps.db('sources').where({ id }).first('status'))?.status === 'READY');
    return id;
  }

  /** What the second instance has heard invalidated. */
  let heardOnSecond: ReturnType<typeof listenForInvalidations>;
  /**
   * Waits until the second instance has heard `count` invalidations of the bot's chunks in all:
   * the event, not time. A created source makes three (the api's, then the worker's claim and
   * READY), a deleted one one.
   */
  const heardChanges = (botId: string, count: number) =>
    heardOnSecond.heard(second.deps.cache!.keys.botChunks(botId), count);
  const CHANGES_PER_SOURCE = 3;

  async function search(app: TestApp, botId: string, query: string, limit?: number): Promise<ChunkMatch[]> {
    const response = await app.gql(SEARCH, { botId, query, limit }, owner.token);
    expect(response.errors).toBeUndefined();
    return response.data!.search;
  }

  async function botWith(name: string, texts: string[]): Promise<string> {
    const bot = await createBot(first, owner.token, name);
    for (const [i, text] of texts.entries()) await addSource(first, bot.id, `Source ${i + 1}`, text);
    await heardChanges(bot.id, CHANGES_PER_SOURCE * texts.length);
    return bot.id;
  }

  it('ranks the demo and benchmark corpora as pgvector does, for 3, 5 and 10 results', async () => {
    const bots = [
      await botWith('Bench', BENCH_TOPICS),
      ...(await Promise.all(
        DEMO_BOTS.map((bot) =>
          botWith(
            bot.name,
            bot.sources.map((source) => source.text),
          ),
        ),
      )),
    ];
    let compared = 0;
    for (const botId of bots) {
      for (const question of QUESTIONS) {
        for (const limit of [3, 5, 10]) {
          const inMemory = await search(second, botId, question, limit);
          expectSameRanking(inMemory, await postgres.retrieve(botId, question, limit));
          compared += inMemory.length;
        }
      }
    }
    // Not vacuous: most questions match something in every corpus.
    expect(compared).toBeGreaterThan(bots.length * QUESTIONS.length * 3);
    expect(memory().stats().bots).toBe(bots.length);
  });

  it('answers searches and chat sends without asking PostgreSQL once the bot is held; concurrent first searches load it once', async () => {
    const botId = await botWith('Held', BENCH_TOPICS);
    const before = { ...chunkReads };
    const first10 = await Promise.all(Array.from({ length: 10 }, () => search(second, botId, 'refund policy')));
    expect(new Set(first10.map((matches) => JSON.stringify(matches))).size).toBe(1);
    expect(first10[0]![0]!.content).toContain('Refunds are accepted');
    for (const text of QUESTIONS) {
      const sent = await second.gql(SEND, { input: { botId, text } }, owner.token);
      expect(sent.errors).toBeUndefined();
    }
    expect(chunkReads).toEqual({ nearest: before.nearest, load: before.load + 1 });
  });

  it('drops a bot everywhere when the worker ingests a source or the api deletes one', async () => {
    const botId = await botWith('Changing', [BENCH_TOPICS[0]!]);
    const sourceIds = async () => (await search(second, botId, 'oat milk barista')).map((match) => match.sourceId);
    // Held by the second instance, with one source.
    expect(await sourceIds()).toHaveLength(1);
    const sourceId = await addSource(first, botId, 'Milk', 'We have oat milk and almond milk for every barista drink.');
    await heardChanges(botId, 2 * CHANGES_PER_SOURCE);
    expect((await sourceIds())[0]).toBe(sourceId);

    const response = await first.gql(DELETE_SOURCE, { id: sourceId }, owner.token);
    expect(response.errors).toBeUndefined();
    await heardChanges(botId, 2 * CHANGES_PER_SOURCE + 1);
    expect(await sourceIds()).toEqual([expect.not.stringMatching(sourceId)]);
  });

  it('searches PostgreSQL while invalidations cannot reach the instance, and holds nothing meanwhile', async () => {
    const botId = await botWith('Outage', BENCH_TOPICS);
    await search(second, botId, 'gift cards');
    expect(memory().stats().bots).toBeGreaterThan(0);
    const subscriber = second.deps.clients.cacheSubscriber!;
    const closed = new Promise((resolve) => subscriber.once('close', resolve));
    // The connection drops and comes back by itself, as after a network blip.
    subscriber.disconnect(true);
    await closed;
    expect(memory().stats().bots).toBe(0);
    await eventually(async () => second.deps.cache!.entities.listening());
    // Subscribed again: the bot is loaded afresh, not brought back.
    const loads = chunkReads.load;
    expectSameRanking(await search(second, botId, 'gift cards'), await postgres.retrieve(botId, 'gift cards', 5));
    expect(chunkReads.load).toBe(loads + 1);
  });
});

describe('a bot with more chunks than CHUNK_MEMORY_BOT_MAX_CHUNKS', () => {
  let app: TestApp;
  let ingester: SourceIngester;

  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'true', CHUNK_MEMORY_BOT_MAX_CHUNKS: '2' });
    ingester = createIngester(app.deps, { ...app.config.ingestion, concurrency: 1 });
    ingester.start();
  });
  afterAll(async () => {
    await ingester?.stop();
    await app?.close();
  });

  it('is searched in PostgreSQL, with the same answers, while a small one is held', async () => {
    const owner = await signUpOwner(app, 'too-large');
    const small = await createBot(app, owner.token, 'Small');
    const large = await createBot(app, owner.token, 'Large');
    const sources = [
      ...BENCH_TOPICS.map((text) => ({ botId: large.id, text })),
      { botId: small.id, text: BENCH_TOPICS[0]! },
    ];
    for (const { botId, text } of sources) {
      const created = await app.gql(CREATE_SOURCE, { input: { botId, kind: 'TEXT', title: 'T', text } }, owner.token);
      expect(created.errors).toBeUndefined();
    }
    await eventually(async () => {
      const rows = await app.deps.db('sources').where({ status: 'READY' }).count<{ count: string }[]>('* as count');
      return Number(rows[0]!.count) === sources.length;
    });
    let nearest = 0;
    app.deps.db.on('query', (query: { sql: string }) => {
      if (query.sql.includes('embedding <=>')) nearest++;
    });
    const postgres = createRetriever({ embedder: app.deps.embedder, chunks: app.deps.repos.chunks });
    for (const question of QUESTIONS.slice(0, 4)) {
      const response = await app.gql(SEARCH, { botId: large.id, query: question, limit: 3 }, owner.token);
      expect(response.errors).toBeUndefined();
      expectSameRanking(response.data!.search, await postgres.retrieve(large.id, question, 3));
    }
    // Four searches, each checked against one more: eight statements, none of them a load.
    expect(nearest).toBe(8);
    const response = await app.gql(SEARCH, { botId: small.id, query: 'refund', limit: 3 }, owner.token);
    expect(response.data!.search).toHaveLength(1);
    expect(nearest).toBe(8);
    // The small bot held, the large one remembered as too large.
    expect(app.deps.chunkMemory!.stats().bots).toBe(2);
    // Loaded together (one statement), each bot as it is, a bot asked for twice once.
    const empty = await createBot(app, owner.token, 'Empty');
    const loaded = await app.deps.repos.chunks.ofBots([large.id, small.id, empty.id, small.id], 2);
    expect([...loaded.keys()]).toEqual([large.id, small.id, empty.id]);
    expect(loaded.get(large.id)).toBeUndefined();
    expect(loaded.get(small.id)!.contents).toHaveLength(1);
    expect(loaded.get(small.id)!.embeddings[0]).toHaveLength(app.config.embedding.dimension);
    expect(loaded.get(empty.id)).toEqual({ sourceIds: [], contents: [], embeddings: [] });
  });
});
