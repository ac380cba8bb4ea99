import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { newId } from '../../src/core/ids';
import type { SourceIngester } from '../../worker/source-ingester';
import { createBot, errorCode, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const CREATE_SOURCE = `mutation($input: CreateSourceInput!) {
  createSource(input: $input) { id kind title status error chunkCount bot { id } }
}`;
const SOURCE = `query($id: ID!) { source(id: $id) { id kind title status error chunkCount } }`;
const DELETE_SOURCE = `mutation($id: ID!) { deleteSource(id: $id) }`;
const SEARCH = `query($botId: ID!, $query: String!, $limit: Int) {
  search(botId: $botId, query: $query, limit: $limit) { sourceId content score }
}`;
const BOT_SOURCES = `query($id: ID!) { bot(id: $id) { sources { id kind title } } }`;

interface Hit {
  sourceId: string;
  content: string;
  score: number;
}

const REFUNDS = `Refund policy. Customers may request a refund within 30 days of purchase.
Refunds are paid back to the original credit card. Opened software licences cannot be refunded.`;
const SHIPPING = `Shipping and delivery. Parcels leave our warehouse in Rotterdam every weekday.
Standard delivery to Canada takes seven to ten days; express couriers deliver in two days.
A tracking number is emailed once the parcel is dispatched.`;
const PASSWORDS = `Account security. To reset a forgotten password, open the login page and choose "Forgot password".
The reset link we email expires after one hour. Two-factor authentication is enabled under Settings.`;

const GUIDE_HTML = `<!doctype html>
<html>
  <head>
    <title>Volcano hiking guide</title>
    <script>window.analytics.track('pageview', { campaign: 'springsale' });</script>
    <style>body { font-family: sans-serif; }</style>
  </head>
  <body>
    <nav><a href="/">Homepage</a> <a href="/careers">Careers</a> <a href="/newsletter">Newsletter</a></nav>
    <h1>Hiking the crater rim</h1>
    <p>The crater rim trail of the volcano is 12 km long. Hikers must carry a gas mask because sulphur fumes
    drift across the summit, and the trail closes whenever seismic activity rises.</p>
  </body>
</html>`;

describe('sources', () => {
  let app: TestApp;
  let pages: Server;
  let pagesUrl: string;
  let owner: { token: string; userId: string };
  let stranger: { token: string; userId: string };
  let worker: SourceIngester | undefined;
  let flakyRequests = 0;
  const flakyRequestTimes: number[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUpOwner(app, 'sources-owner');
    stranger = await signUpOwner(app, 'sources-stranger');
    pages = createServer((request, response) => {
      switch (request.url) {
        case '/guide.html':
          response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(GUIDE_HTML);
          return;
        case '/brochure':
          // A PDF of printable characters only: it decodes as text, so only its type can reject it.
          response.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.4\n1 0 obj << /Type /Catalog >>');
          return;
        case '/logo':
          response
            .writeHead(200, { 'content-type': 'image/png' })
            .end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48]));
          return;
        case '/flaky':
          // Fails twice, as a site in the middle of a deploy would, then serves the page.
          flakyRequestTimes.push(Date.now());
          if (++flakyRequests <= 2) response.writeHead(503).end();
          else
            response.writeHead(200, { 'content-type': 'text/plain' }).end('Opening hours: the museum opens at nine.');
          return;
        case '/chrome-only':
          response
            .writeHead(200, { 'content-type': 'text/html' })
            .end('<html><head><script>track()</script></head><body><nav><a href="/">Home</a></nav></body></html>');
          return;
        case '/down':
          response.writeHead(503).end();
          return;
        default:
          response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
      }
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pagesUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await new Promise((resolve) => pages?.close(resolve));
  });

  const sourceCount = async () => Number((await app.deps.db('sources').count({ n: '*' }))[0]?.n);
  const chunkCount = async (sourceId: string) =>
    Number((await app.deps.db('source_chunks').where({ source_id: sourceId }).count({ n: '*' }))[0]?.n);

  async function createSource(token: string, input: Record<string, unknown>) {
    const response = await app.gql(CREATE_SOURCE, { input }, token);
    expect(response.errors).toBeUndefined();
    return response.data!.createSource as { id: string; kind: string; title: string; status: string };
  }

  /**
   * Polls `source(id)` (through the API, as a client would) until ingestion has finished. The
   * worker starts on first need, so the first test can see a source wait while none runs.
   */
  async function settled(id: string) {
    worker ??= app.startWorker();
    return eventually(async () => {
      const source = (await app.gql(SOURCE, { id }, owner.token)).data?.source;
      return source && ['READY', 'FAILED'].includes(source.status) ? source : undefined;
    });
  }

  async function search(botId: string, query: string, limit?: number): Promise<Hit[]> {
    const response = await app.gql(SEARCH, { botId, query, limit }, owner.token);
    expect(response.errors).toBeUndefined();
    return response.data!.search;
  }

  function expectRanked(hits: Hit[]): void {
    for (const hit of hits) expect(hit.score).toBeLessThanOrEqual(1);
    const scores = hits.map((hit) => hit.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  }

  it('keeps a TEXT source PENDING until the worker has run, then makes it READY', async () => {
    const bot = await createBot(app, owner.token, 'Lifecycle bot');
    const created = await createSource(owner.token, {
      botId: bot.id,
      kind: 'TEXT',
      title: '  Refunds  ',
      text: REFUNDS,
    });
    expect(created).toMatchObject({
      kind: 'TEXT',
      title: 'Refunds',
      status: 'PENDING',
      error: null,
      chunkCount: 0,
      bot: { id: bot.id },
    });
    expect((await app.gql(SOURCE, { id: created.id }, owner.token)).data!.source.status).toBe('PENDING');

    const ready = await settled(created.id);
    expect(ready).toMatchObject({ status: 'READY', error: null });
    expect(ready.chunkCount).toBeGreaterThan(0);
    expect(await chunkCount(created.id)).toBe(ready.chunkCount);
  });

  it('marks a TEXT source with no words worth indexing FAILED', async () => {
    const bot = await createBot(app, owner.token, 'Stop-word bot');
    const created = await createSource(owner.token, {
      botId: bot.id,
      kind: 'TEXT',
      title: 'Filler',
      text: 'It is what it is, and that is that.',
    });
    const failed = await settled(created.id);
    expect(failed).toMatchObject({ status: 'FAILED', chunkCount: 0 });
    expect(failed.error).toMatch(/no words to index/);
  });

  describe('search', () => {
    let botId: string;
    const ids: Record<'refunds' | 'shipping' | 'passwords', string> = { refunds: '', shipping: '', passwords: '' };

    beforeAll(async () => {
      botId = (await createBot(app, owner.token, 'Support bot')).id;
      for (const [key, text] of [
        ['refunds', REFUNDS],
        ['shipping', SHIPPING],
        ['passwords', PASSWORDS],
      ] as const) {
        ids[key] = (await createSource(owner.token, { botId, kind: 'TEXT', title: key, text })).id;
      }
      for (const id of Object.values(ids)) expect((await settled(id)).status).toBe('READY');
    });

    it.each([
      ['how long does delivery to Canada take?', 'shipping'],
      ['can I get a refund on my credit card?', 'refunds'],
      ['I forgot my password, how do I reset it?', 'passwords'],
    ] as const)('ranks the matching source first for %j', async (query, expected) => {
      const hits = await search(botId, query, 10);
      expect(hits).toHaveLength(3);
      expect(hits[0]!.sourceId).toBe(ids[expected]);
      expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
      expectRanked(hits);
      expect(new Set(hits.map((hit) => hit.sourceId))).toEqual(new Set(Object.values(ids)));
    });

    it('scores a query equal to a chunk close to, but not above, 1', async () => {
      const [best] = await search(botId, PASSWORDS, 1);
      expect(best!.sourceId).toBe(ids.passwords);
      expect(best!.score).toBeGreaterThan(0.99);
      expect(best!.score).toBeLessThanOrEqual(1);
    });

    it('honours limit and defaults to 5', async () => {
      const one = await search(botId, 'refund delivery password', 1);
      expect(one).toHaveLength(1);
      expect(await search(botId, 'refund delivery password', 2)).toHaveLength(2);

      // Paragraphs of ~500 characters: no two fit in one 800-character chunk.
      const paragraphs = Array.from({ length: 8 }, (_, i) =>
        `The kettle model K${i} has a two-year warranty. `.repeat(11).trim(),
      );
      const big = await createSource(owner.token, {
        botId,
        kind: 'TEXT',
        title: 'Warranty',
        text: paragraphs.join('\n\n'),
      });
      const ready = await settled(big.id);
      expect(ready.chunkCount).toBeGreaterThan(5);
      expect(await search(botId, 'kettle warranty')).toHaveLength(5);
      expect(await search(botId, 'kettle warranty', 50)).toHaveLength(3 + ready.chunkCount);
    });

    it("returns only the bot's own chunks", async () => {
      const otherBot = await createBot(app, owner.token, 'Empty bot');
      expect(await search(otherBot.id, 'how long does delivery to Canada take?')).toEqual([]);
    });

    it("refuses another owner's bot with FORBIDDEN", async () => {
      const response = await app.gql(SEARCH, { botId, query: 'refund' }, stranger.token);
      expect(errorCode(response)).toBe('FORBIDDEN');
      // Nullable since it is rate limited (as every @rateLimit field is).
      expect(response.data).toEqual({ search: null });
    });

    it.each([
      ['limit 0', { query: 'refund', limit: 0 }, 'limit'],
      ['limit 51', { query: 'refund', limit: 51 }, 'limit'],
      ['an empty query', { query: '' }, 'query'],
      ['a blank query', { query: '   ' }, 'query'],
    ])('rejects %s with BAD_USER_INPUT', async (_case, variables, field) => {
      const response = await app.gql(SEARCH, { botId, ...variables }, owner.token);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.extensions!.field).toBe(field);
    });
  });

  describe('URL sources', () => {
    let botId: string;

    beforeAll(async () => {
      botId = (await createBot(app, owner.token, 'Web bot')).id;
    });

    it('fetches an HTML page, indexes its content without the page chrome, and finds it', async () => {
      const created = await createSource(owner.token, {
        botId,
        kind: 'URL',
        title: 'Volcano guide',
        url: `${pagesUrl}/guide.html`,
      });
      expect(created).toMatchObject({ kind: 'URL', status: 'PENDING' });
      const ready = await settled(created.id);
      expect(ready).toMatchObject({ status: 'READY', error: null });
      expect(ready.chunkCount).toBeGreaterThan(0);

      const [best] = await search(botId, 'do I need a gas mask on the crater rim?', 5);
      expect(best!.sourceId).toBe(created.id);
      expect(best!.content).toContain('Hikers must carry a gas mask');
      for (const noise of ['analytics', 'springsale', 'font-family', 'Careers', 'Newsletter', '<p>']) {
        expect(best!.content).not.toContain(noise);
      }
    });

    it('retries a URL that fails for a moment', async () => {
      const created = await createSource(owner.token, {
        botId,
        kind: 'URL',
        title: 'Museum',
        url: `${pagesUrl}/flaky`,
      });
      expect(await settled(created.id)).toMatchObject({ status: 'READY', error: null });
      // The page really failed twice before it was read, and each retry waited longer
      // (the test app's INGEST_RETRY_BASE_MILLIS is 200: 200 ms, then 800 ms).
      expect(flakyRequests).toBe(3);
      const [first, second, third] = flakyRequestTimes as [number, number, number];
      expect(second - first).toBeGreaterThanOrEqual(200);
      expect(third - second).toBeGreaterThanOrEqual(800);
      expect((await search(botId, 'when does the museum open?', 1))[0]!.sourceId).toBe(created.id);
    });

    it.each([
      ['keeps answering 503', '/down', /503/],
      ['answers 404', '/no-such-page', /404/],
      ['has nothing but navigation and scripts', '/chrome-only', /no words/],
      ['serves a PDF', '/brochure', /application\/pdf.*only text, Markdown and HTML/],
      ['serves PNG bytes', '/logo', /not text/],
    ])('marks the source FAILED with a readable error when the URL %s', async (_case, path, message) => {
      const created = await createSource(owner.token, { botId, kind: 'URL', title: 'Broken', url: pagesUrl + path });
      const failed = await settled(created.id);
      expect(failed).toMatchObject({ status: 'FAILED', chunkCount: 0 });
      expect(failed.error).toMatch(message);
      expect(failed.error).not.toMatch(/Error:|undefined|\n\s+at /);
      expect(await chunkCount(created.id)).toBe(0);
    });
  });

  describe('createSource validation', () => {
    let botId: string;

    beforeAll(async () => {
      botId = (await createBot(app, owner.token, 'Validation bot')).id;
    });

    it.each([
      ['a URL source without url', { kind: 'URL', title: 'T' }, 'url'],
      ['a TEXT source without text', { kind: 'TEXT', title: 'T' }, 'text'],
      ['a TEXT source with blank text', { kind: 'TEXT', title: 'T', text: '  \n ' }, 'text'],
      ['an ftp:// url', { kind: 'URL', title: 'T', url: 'ftp://example.com/faq.txt' }, 'url'],
      ['a url that is not a URL', { kind: 'URL', title: 'T', url: 'not a url' }, 'url'],
      ['text on a URL source', { kind: 'URL', title: 'T', url: 'https://example.com', text: 'x' }, 'text'],
      ['url on a TEXT source', { kind: 'TEXT', title: 'T', text: 'x', url: 'https://example.com' }, 'url'],
      ['a FILE source', { kind: 'FILE', title: 'T', text: 'x' }, 'kind'],
      ['an empty title', { kind: 'TEXT', title: '', text: 'x' }, 'title'],
      ['a blank title', { kind: 'TEXT', title: '   ', text: 'x' }, 'title'],
      ['a title over 200 characters', { kind: 'TEXT', title: 'x'.repeat(201), text: 'x' }, 'title'],
    ])('rejects %s with BAD_USER_INPUT and stores nothing', async (_case, input, field) => {
      const before = await sourceCount();
      const response = await app.gql(CREATE_SOURCE, { input: { botId, ...input } }, owner.token);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.extensions!.field).toBe(field);
      expect(response.data).toEqual({ createSource: null });
      expect(await sourceCount()).toBe(before);
    });

    it('accepts a title of exactly 200 characters', async () => {
      const created = await createSource(owner.token, { botId, kind: 'TEXT', title: 'é'.repeat(200), text: 'x' });
      expect(created.title).toBe('é'.repeat(200));
    });

    it("refuses a source on another owner's bot with FORBIDDEN", async () => {
      const before = await sourceCount();
      const response = await app.gql(
        CREATE_SOURCE,
        { input: { botId, kind: 'TEXT', title: 'Intruder', text: 'x' } },
        stranger.token,
      );
      expect(errorCode(response)).toBe('FORBIDDEN');
      expect(await sourceCount()).toBe(before);
    });
  });

  describe('deleteSource and Bot.sources', () => {
    let botId: string;
    let keep: string;
    let doomed: string;

    beforeAll(async () => {
      botId = (await createBot(app, owner.token, 'Deletion bot')).id;
      keep = (await createSource(owner.token, { botId, kind: 'TEXT', title: 'Shipping', text: SHIPPING })).id;
      doomed = (await createSource(owner.token, { botId, kind: 'TEXT', title: 'Refunds', text: REFUNDS })).id;
      await settled(keep);
      await settled(doomed);
    });

    it("lists the bot's sources, oldest first", async () => {
      const elsewhere = await createBot(app, owner.token, 'Unrelated bot');
      await createSource(owner.token, { botId: elsewhere.id, kind: 'TEXT', title: 'Elsewhere', text: 'x' });
      const response = await app.gql(BOT_SOURCES, { id: botId }, owner.token);
      expect(response.data!.bot.sources).toEqual([
        { id: keep, kind: 'TEXT', title: 'Shipping' },
        { id: doomed, kind: 'TEXT', title: 'Refunds' },
      ]);
    });

    it("refuses to read or delete another owner's source with FORBIDDEN", async () => {
      expect(errorCode(await app.gql(SOURCE, { id: doomed }, stranger.token))).toBe('FORBIDDEN');
      expect(errorCode(await app.gql(DELETE_SOURCE, { id: doomed }, stranger.token))).toBe('FORBIDDEN');
      expect((await app.gql(SOURCE, { id: doomed }, owner.token)).data!.source.status).toBe('READY');
      expect(await chunkCount(doomed)).toBeGreaterThan(0);
    });

    it('answers NOT_FOUND for an unknown id and BAD_USER_INPUT for a malformed one', async () => {
      const before = await sourceCount();
      for (const query of [SOURCE, DELETE_SOURCE]) {
        expect(errorCode(await app.gql(query, { id: newId() }, owner.token))).toBe('NOT_FOUND');
        expect(errorCode(await app.gql(query, { id: 'not-an-id' }, owner.token))).toBe('BAD_USER_INPUT');
      }
      expect(await sourceCount()).toBe(before);
    });

    it('deletes the source with its chunks, so search no longer finds it', async () => {
      const query = 'can I get a refund on my credit card?';
      expect((await search(botId, query, 5))[0]!.sourceId).toBe(doomed);
      const keptChunks = await chunkCount(keep);
      expect(await chunkCount(doomed)).toBeGreaterThan(0);

      const response = await app.gql(DELETE_SOURCE, { id: doomed }, owner.token);
      expect(response.data).toEqual({ deleteSource: true });

      expect(await chunkCount(doomed)).toBe(0);
      expect(await chunkCount(keep)).toBe(keptChunks);
      expect(await app.deps.db('sources').where({ id: doomed }).first()).toBeUndefined();
      expect(errorCode(await app.gql(SOURCE, { id: doomed }, owner.token))).toBe('NOT_FOUND');
      const hits = await search(botId, query, 50);
      expect(hits.length).toBeGreaterThan(0);
      expect(hits.every((hit) => hit.sourceId === keep)).toBe(true);
      expect((await app.gql(BOT_SOURCES, { id: botId }, owner.token)).data!.bot.sources).toEqual([
        { id: keep, kind: 'TEXT', title: 'Shipping' },
      ]);
      expect(errorCode(await app.gql(DELETE_SOURCE, { id: doomed }, owner.token))).toBe('NOT_FOUND');
    });
  });
});
