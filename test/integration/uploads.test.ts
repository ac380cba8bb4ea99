import { newId } from '../../src/core/ids';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const SOURCE = `query($id: ID!) { source(id: $id) { id kind title status error chunkCount } }`;
const SEARCH = `query($botId: ID!, $query: String!, $limit: Int) {
  search(botId: $botId, query: $query, limit: $limit) { sourceId content score }
}`;

/** Small, so the size limit can be crossed without sending megabytes. */
const UPLOAD_MAX_BYTES = 2048;

const GARDENING_MD = `# Growing tomatoes

Plant **tomato seedlings** after the last frost, in full sun.
Water the roots deeply twice a week and tie the stems to a [bamboo cane](https://example.com/canes).
`;

const RETURNS_HTML = `<!doctype html>
<html><head><title>Returns</title><script>window.dataLayer.push({ event: 'returnsPage' });</script></head>
<body><nav><a href="/">Shop</a> <a href="/sale">Sale</a></nav>
<h1>Returning a bicycle</h1>
<p>Bicycles can be returned within <em>14 days</em> in their original packaging; pedals must be removed first.</p>
</body></html>`;

interface UploadFile {
  name: string;
  type?: string;
  /** Backed by a plain ArrayBuffer: a Blob cannot take a view of a SharedArrayBuffer. */
  body: string | Uint8Array<ArrayBuffer>;
}

interface UploadResult {
  status: number;
  body: any;
}

describe('POST /uploads', () => {
  let app: TestApp;
  let owner: { token: string; userId: string };
  let stranger: { token: string; userId: string };
  let botId: string;
  let strangerBotId: string;

  beforeAll(async () => {
    app = await startTestApp({ UPLOAD_MAX_BYTES: String(UPLOAD_MAX_BYTES) });
    owner = await signUpOwner(app, 'uploads-owner');
    stranger = await signUpOwner(app, 'uploads-stranger');
    botId = (await createBot(app, owner.token, 'Docs bot')).id;
    strangerBotId = (await createBot(app, stranger.token, 'Not yours')).id;
    app.startWorker();
  });
  afterAll(() => app?.close());

  const sourceCount = async () => Number((await app.deps.db('sources').count({ n: '*' }))[0]?.n);

  async function send(init: { body?: FormData | string; headers?: Record<string, string> }, token: string | null) {
    const response = await fetch(`${app.url}/uploads`, {
      method: 'POST',
      body: init.body,
      headers: { ...init.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
    return { status: response.status, body: await response.json() } as UploadResult;
  }

  function upload(
    fields: { botId?: string; title?: string; file?: UploadFile },
    token: string | null = owner.token,
  ): Promise<UploadResult> {
    const form = new FormData();
    if (fields.botId !== undefined) form.append('botId', fields.botId);
    if (fields.title !== undefined) form.append('title', fields.title);
    if (fields.file) {
      const { name, type, body } = fields.file;
      form.append('file', new Blob([body], type ? { type } : {}), name);
    }
    return send({ body: form }, token);
  }

  async function settled(id: string) {
    return eventually(async () => {
      const source = (await app.gql(SOURCE, { id }, owner.token)).data?.source;
      return source && ['READY', 'FAILED'].includes(source.status) ? source : undefined;
    });
  }

  async function bestHit(query: string) {
    const response = await app.gql(SEARCH, { botId, query, limit: 5 }, owner.token);
    expect(response.errors).toBeUndefined();
    return response.data!.search[0] as { sourceId: string; content: string; score: number } | undefined;
  }

  it('turns a Markdown file into a FILE source that becomes READY and searchable', async () => {
    const response = await upload({
      botId,
      title: 'Tomato guide',
      file: { name: 'tomatoes.md', type: 'text/markdown', body: GARDENING_MD },
    });
    expect(response.status).toBe(201);
    const { source } = response.body;
    expect(source).toMatchObject({ kind: 'FILE', status: 'PENDING', title: 'Tomato guide', botId, chunkCount: 0 });
    expect(source.id).toMatch(/^[0-9a-f-]{36}$/);

    expect(await settled(source.id)).toMatchObject({ status: 'READY', error: null, kind: 'FILE' });
    const best = await bestHit('when should I plant tomato seedlings?');
    expect(best!.sourceId).toBe(source.id);
    expect(best!.score).toBeLessThanOrEqual(1);
    // Markdown is indexed as text: the reader sees words, not markup or link targets.
    expect(best!.content).toContain('Plant tomato seedlings after the last frost');
    expect(best!.content).not.toMatch(/\*\*|https:|^#/);
  });

  it('turns an HTML file into a READY source, titled after its <title> when no title is sent', async () => {
    // No type: browsers send application/octet-stream for unknown files, so the extension decides.
    const response = await upload({ botId, file: { name: 'returns.html', body: RETURNS_HTML } });
    expect(response.status).toBe(201);
    const { source } = response.body;
    expect(source).toMatchObject({ kind: 'FILE', status: 'PENDING', title: 'Returns' });

    expect(await settled(source.id)).toMatchObject({ status: 'READY', error: null });
    const best = await bestHit('how do I return a bicycle?');
    expect(best!.sourceId).toBe(source.id);
    expect(best!.content).toContain('Bicycles can be returned within 14 days');
    for (const noise of ['dataLayer', 'returnsPage', 'Sale', '<p>', '<em>']) expect(best!.content).not.toContain(noise);
  });

  it('accepts a file of exactly the size limit', async () => {
    const body = 'Lighthouse keepers log the weather every hour. '.repeat(60).slice(0, UPLOAD_MAX_BYTES);
    expect(Buffer.byteLength(body)).toBe(UPLOAD_MAX_BYTES);
    const response = await upload({ botId, file: { name: 'lighthouse.txt', type: 'text/plain', body } });
    expect(response.status).toBe(201);
    expect(await settled(response.body.source.id)).toMatchObject({ status: 'READY' });
  });

  const text = { name: 'notes.txt', type: 'text/plain', body: 'Opening hours are nine to five.' };
  const pngBytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]);

  it.each<[string, () => Promise<UploadResult>, number, string]>([
    [
      'a file one byte over the limit',
      () => upload({ botId, file: { ...text, body: 'x'.repeat(UPLOAD_MAX_BYTES + 1) } }),
      413,
      'BAD_REQUEST',
    ],
    [
      'a file far over the limit',
      () => upload({ botId, file: { ...text, body: 'x'.repeat(256 * 1024) } }),
      413,
      'BAD_REQUEST',
    ],
    [
      'a PDF',
      () => upload({ botId, file: { name: 'manual.pdf', type: 'application/pdf', body: '%PDF-1.4\n%âãÏÓ' } }),
      400,
      'BAD_USER_INPUT',
    ],
    [
      'binary bytes named .txt',
      () => upload({ botId, file: { name: 'logo.txt', type: 'text/plain', body: pngBytes } }),
      400,
      'BAD_USER_INPUT',
    ],
    ['an empty file', () => upload({ botId, file: { ...text, body: '' } }), 400, 'BAD_USER_INPUT'],
    ['no token', () => upload({ botId, file: text }, null), 401, 'UNAUTHENTICATED'],
    ['an unknown token', () => upload({ botId, file: text }, 'no-such-token'), 401, 'UNAUTHENTICATED'],
    ["someone else's bot", () => upload({ botId: strangerBotId, file: text }), 403, 'FORBIDDEN'],
    ['an unknown bot', () => upload({ botId: newId(), file: text }), 404, 'NOT_FOUND'],
    ['no botId', () => upload({ file: text }), 400, 'BAD_USER_INPUT'],
    ['a malformed botId', () => upload({ botId: 'bot-1', file: text }), 400, 'BAD_USER_INPUT'],
    ['no file', () => upload({ botId }), 400, 'BAD_USER_INPUT'],
    [
      'a file under another field name',
      () => {
        const form = new FormData();
        form.append('botId', botId);
        form.append('document', new Blob([text.body], { type: text.type }), text.name);
        return send({ body: form }, owner.token);
      },
      400,
      'BAD_USER_INPUT',
    ],
    [
      'a JSON body',
      () =>
        send(
          { body: JSON.stringify({ botId, file: 'Opening hours' }), headers: { 'content-type': 'application/json' } },
          owner.token,
        ),
      400,
      'BAD_USER_INPUT',
    ],
  ])('answers %s with the right status and stores nothing', async (_case, request, status, code) => {
    const before = await sourceCount();
    const response = await request();
    expect(response.status).toBe(status);
    expect(response.body.errors[0].extensions.code).toBe(code);
    expect(response.body.errors[0].message).toEqual(expect.any(String));
    expect(await sourceCount()).toBe(before);
  });

  it.each([
    ['a form-encoded body', 'application/x-www-form-urlencoded', `botId=${encodeURIComponent('x')}&file=abc`],
    ['a plain-text body', 'text/plain', 'Opening hours are nine to five.'],
    ['multipart without a boundary', 'multipart/form-data', 'botId=x'],
    [
      'a truncated multipart body',
      'multipart/form-data; boundary=XyZ',
      '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nOpening hours',
    ],
  ])('answers %s with a 4xx, not a server error', async (_case, contentType, body) => {
    const before = await sourceCount();
    const response = await send({ body, headers: { 'content-type': contentType } }, owner.token);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.body.errors[0].message).toEqual(expect.any(String));
    expect(await sourceCount()).toBe(before);
  });
});
