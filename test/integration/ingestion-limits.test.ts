import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const CREATE_SOURCE = `mutation($input: CreateSourceInput!) { createSource(input: $input) { id status } }`;
const SOURCE = `query($id: ID!) { source(id: $id) { id status error chunkCount } }`;

/**
 * Far below what the slow source needs (seconds), far above what a short one needs (well under
 * a millisecond of work, but the thread must also get a core: on a busy machine 50 ms was not
 * always enough).
 */
const EXTRACT_TIMEOUT_MILLIS = 500;

describe('ingestion time limit', () => {
  let app: TestApp;
  let owner: { token: string };

  beforeAll(async () => {
    app = await startTestApp({ INGEST_EXTRACT_TIMEOUT_MILLIS: String(EXTRACT_TIMEOUT_MILLIS) });
    owner = await signUpOwner(app, 'limits-owner');
  });
  afterAll(() => app?.close());

  async function createTextSource(botId: string, title: string, text: string): Promise<string> {
    const response = await app.gql(CREATE_SOURCE, { input: { botId, kind: 'TEXT', title, text } }, owner.token);
    expect(response.errors).toBeUndefined();
    return response.data!.createSource.id;
  }

  async function settled(id: string) {
    return eventually(async () => {
      const source = (await app.gql(SOURCE, { id }, owner.token)).data?.source;
      return source && ['READY', 'FAILED'].includes(source.status) ? source : undefined;
    });
  }

  it('fails a source that takes too long to extract, with a readable error, and ingests the next one', async () => {
    const bot = await createBot(app, owner.token, 'Limits bot');
    // 999,000 characters (a TEXT source may have 1,000,000) in 333,000 one-word paragraphs, the
    // slowest shape to chunk (one segmenter call each): about 3 s here, six times the limit.
    const slowText = Array.from({ length: 333_000 }, () => 'a').join('\n\n');
    const slowId = await createTextSource(bot.id, 'Rule book', slowText);
    const quickId = await createTextSource(bot.id, 'Gift cards', 'Gift cards are valid for two years.');
    app.startWorker();

    expect(await settled(slowId)).toMatchObject({
      status: 'FAILED',
      chunkCount: 0,
      error: `Extracting text took longer than ${EXTRACT_TIMEOUT_MILLIS} ms; split the document or simplify its markup.`,
    });
    expect(await settled(quickId)).toMatchObject({ status: 'READY', error: null, chunkCount: 1 });
    // A document that is too slow stays too slow: it is failed at once, not retried.
    const [slow] = await app.deps.db('sources').where({ id: slowId }).select('attempts');
    expect(slow.attempts).toBe(1);
  });
});
