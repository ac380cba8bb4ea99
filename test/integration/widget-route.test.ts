import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { AppError } from '../../src/errors';
import { sendAppError } from '../../src/http/error-reply';
import { registerWidgetRoutes } from '../../src/http/widget';
import { createBot, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const CODE = '/*! Parley widget test */(()=>{document.body.dataset.widget="1"})();';

describe('GET /widget.js and the demo pages', () => {
  let app: TestApp;
  let dir: string;
  const servers: FastifyInstance[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    dir = mkdtempSync(join(tmpdir(), 'parley-widget-'));
    writeFileSync(join(dir, 'widget.js'), CODE);
    writeFileSync(join(dir, 'widget.meta.json'), JSON.stringify({ hash: 'abc123' }));
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    rmSync(dir, { recursive: true, force: true });
    await app.close();
  });

  const serve = async (options: { isProduction: boolean; dir: string; demoOwnerEmail?: string }) => {
    const fastify = Fastify();
    // As the api's own error handler maps them (src/http/server.ts).
    fastify.setErrorHandler((error, request, reply) =>
      error instanceof AppError ? sendAppError(reply, error, request.id) : reply.send(error),
    );
    registerWidgetRoutes(fastify, { db: app.deps.db, demoOwnerEmail: 'nobody@example.com', ...options });
    servers.push(fastify);
    return fastify.listen({ host: '127.0.0.1', port: 0 });
  };

  it('serves the bundle for any site, gzipped when asked, and 304 for a tag the client has', async () => {
    const url = `${await serve({ isProduction: true, dir })}/widget.js`;
    const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(
      Object.fromEntries(
        ['content-type', 'cache-control', 'etag', 'cross-origin-resource-policy', 'x-content-type-options', 'vary'].map(
          (name) => [name, plain.headers.get(name)],
        ),
      ),
    ).toEqual({
      'content-type': 'application/javascript; charset=utf-8',
      'cache-control': 'public, max-age=300',
      etag: '"abc123"',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
    });
    expect(await plain.text()).toBe(CODE);

    // fetch would unpack it itself: read the bytes as they came.
    const raw = await import('node:http').then(
      (http) =>
        new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) => {
          http
            .get(url, { headers: { 'accept-encoding': 'br, gzip;q=0.8' } }, (response) => {
              const chunks: Buffer[] = [];
              response.on('data', (chunk: Buffer) => chunks.push(chunk));
              response.on('end', () =>
                resolve({ encoding: response.headers['content-encoding'], body: Buffer.concat(chunks) }),
              );
            })
            .on('error', reject);
        }),
    );
    expect(raw.encoding).toBe('gzip');
    expect(gunzipSync(raw.body).toString()).toBe(CODE);

    for (const tag of ['"abc123"', 'W/"abc123"', '"other", "abc123"', '*']) {
      expect({ tag, status: (await fetch(url, { headers: { 'if-none-match': tag } })).status }).toEqual({
        tag,
        status: 304,
      });
    }
    expect((await fetch(url, { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
  });

  it('answers 404 with a hint while the bundle is not built', async () => {
    const response = await fetch(`${await serve({ isProduction: true, dir: join(dir, 'missing') })}/widget.js`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/build:widget/);
  });

  it('serves the demo pages outside production only, with names escaped', async () => {
    const owner = await signUpOwner(app, 'demo-pages');
    const bot = await createBot(app, owner.token, '<img src=x onerror=alert(1)>');
    const development = await serve({ isProduction: false, dir, demoOwnerEmail: owner.email });
    const list = await (await fetch(`${development}/demo`)).text();
    const page = await fetch(`${development}/demo/${bot.publicKey}`);
    const html = await page.text();
    for (const text of [list, html]) {
      expect(text).not.toContain('<img src=x');
      expect(text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    }
    expect(html).toContain(`<script src="/widget.js" data-public-key="${bot.publicKey}" async></script>`);
    expect((await fetch(`${development}/demo/pk_nope`)).status).toBe(404);

    const production = await serve({ isProduction: true, dir, demoOwnerEmail: owner.email });
    expect((await fetch(`${production}/demo`)).status).toBe(404);
    expect((await fetch(`${production}/demo/${bot.publicKey}`)).status).toBe(404);
  });
});
