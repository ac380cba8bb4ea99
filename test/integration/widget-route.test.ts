import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { AppError } from '../../src/core/errors';
import { sendAppError } from '../../src/http/error-reply';
import { registerWidgetRoutes, type WidgetFs } from '../../src/http/widget';
import { holdLibuvPool, type LibuvPoolHold } from '../helpers/libuv-pool';
import { createBot, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const CODE = '/*! Parley widget test */(()=>{document.body.dataset.widget="1"})();';
const REBUILT = '/*! Parley widget test, rebuilt */(()=>{document.body.dataset.widget="2"})();';

/** node:fs/promises' stat and readFile, counted. */
function countingFs() {
  const calls = { stat: 0, readFile: 0 };
  const fs: WidgetFs = {
    stat: ((...args: Parameters<typeof stat>) => {
      calls.stat++;
      return stat(...args);
    }) as typeof stat,
    readFile: ((...args: Parameters<typeof readFile>) => {
      calls.readFile++;
      return readFile(...args);
    }) as typeof readFile,
  };
  return { fs, calls };
}

/** A bundle directory of the test's own: `widget.js` and its meta with `hash`. */
function bundleDir(code?: string, hash?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-widget-'));
  if (code !== undefined) writeBundle(dir, code, hash!);
  return dir;
}

/** Writes a build, dated `mtime` so that a rebuild within the same second still looks changed. */
function writeBundle(dir: string, code: string, hash: string, mtime = new Date()): void {
  writeFileSync(join(dir, 'widget.meta.json'), JSON.stringify({ hash }));
  writeFileSync(join(dir, 'widget.js'), code);
  utimesSync(join(dir, 'widget.js'), mtime, mtime);
}

describe('GET /widget.js and the demo pages', () => {
  let app: TestApp;
  let dir: string;
  const servers: FastifyInstance[] = [];
  const dirs: string[] = [];
  let hold: LibuvPoolHold | undefined;

  beforeAll(async () => {
    app = await startTestApp();
    dir = mkdtempSync(join(tmpdir(), 'parley-widget-'));
    writeFileSync(join(dir, 'widget.js'), CODE);
    writeFileSync(join(dir, 'widget.meta.json'), JSON.stringify({ hash: 'abc123' }));
  });
  afterEach(async () => {
    await hold?.release();
    hold = undefined;
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    for (const path of [dir, ...dirs]) rmSync(path, { recursive: true, force: true });
    await app.close();
  });

  const ownDir = (code?: string, hash?: string) => {
    const path = bundleDir(code, hash);
    dirs.push(path);
    return path;
  };

  const serve = async (options: {
    isProduction: boolean;
    dir: string;
    demoOwnerEmail?: string;
    fs?: WidgetFs;
    now?: () => number;
  }) => {
    const fastify = Fastify();
    // As the api's own error handler maps them (src/http/server.ts).
    fastify.setErrorHandler((error, request, reply) =>
      error instanceof AppError ? sendAppError(reply, error, request.id) : reply.send(error),
    );
    registerWidgetRoutes(fastify, { bots: app.deps.repos.bots, demoOwnerEmail: 'nobody@example.com', ...options });
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

  it('in production reads the bundle once, then serves every request from memory without touching the disk', async () => {
    const own = ownDir(CODE, 'abc123');
    const { fs, calls } = countingFs();
    const url = `${await serve({ isProduction: true, dir: own, fs })}/widget.js`;
    const first = await Promise.all([fetch(url), fetch(url), fetch(url)]);
    for (const response of first) expect(await response.text()).toBe(CODE);
    // The three first requests shared one read: a stat, the code and its meta.
    expect(calls).toEqual({ stat: 1, readFile: 2 });

    const variants: Record<string, string>[] = [{}, { 'accept-encoding': 'gzip' }, { 'if-none-match': '"abc123"' }, {}];
    for (const headers of variants) {
      expect([200, 304]).toContain((await fetch(url, { headers })).status);
    }
    // Gone from the disk (a redeploy in progress): still served, as read.
    rmSync(join(own, 'widget.js'));
    const later = await fetch(url);
    expect({ status: later.status, text: await later.text() }).toEqual({ status: 200, text: CODE });
    expect(calls).toEqual({ stat: 1, readFile: 2 });
  });

  it('in production answers while every libuv thread is held (what a burst of hashes used to do)', async () => {
    const url = `${await serve({ isProduction: true, dir })}/widget.js`;
    expect((await fetch(url)).status).toBe(200);
    hold = holdLibuvPool();
    // Uncompressed: fetch would gunzip on libuv's threads too.
    const held = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
    expect({ status: held.status, text: await held.text() }).toEqual({ status: 200, text: CODE });
  });

  it('outside production picks up a rebuild within a second, looking at the disk at most once a second', async () => {
    const own = ownDir(CODE, 'v1');
    const { fs, calls } = countingFs();
    let nowMillis = 1_000_000;
    const url = `${await serve({ isProduction: false, dir: own, fs, now: () => nowMillis })}/widget.js`;
    const get = async () => {
      const response = await fetch(url);
      return { etag: response.headers.get('etag'), text: await response.text() };
    };
    expect(await get()).toEqual({ etag: '"v1"', text: CODE });
    expect(calls).toEqual({ stat: 1, readFile: 2 });

    writeBundle(own, REBUILT, 'v2', new Date(Date.now() + 60_000));
    for (let i = 0; i < 5; i++) expect(await get()).toEqual({ etag: '"v1"', text: CODE });
    expect(calls).toEqual({ stat: 1, readFile: 2 });

    nowMillis += 1000;
    expect(await get()).toEqual({ etag: '"v2"', text: REBUILT });
    expect(calls).toEqual({ stat: 2, readFile: 4 });
    // Unchanged since: a stat a second, no reread.
    nowMillis += 1000;
    expect(await get()).toEqual({ etag: '"v2"', text: REBUILT });
    expect(calls).toEqual({ stat: 3, readFile: 4 });
  });

  it('looks for a bundle not built yet at most once a second, and serves it once it is', async () => {
    const own = ownDir();
    const { fs, calls } = countingFs();
    let nowMillis = 1_000_000;
    const url = `${await serve({ isProduction: true, dir: own, fs, now: () => nowMillis })}/widget.js`;
    for (let i = 0; i < 5; i++) expect((await fetch(url)).status).toBe(404);
    expect(calls.stat).toBe(1);

    writeBundle(own, CODE, 'built');
    nowMillis += 1000;
    const built = await fetch(url);
    expect({ status: built.status, etag: built.headers.get('etag') }).toEqual({ status: 200, etag: '"built"' });
    expect(calls).toEqual({ stat: 2, readFile: 2 });
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
