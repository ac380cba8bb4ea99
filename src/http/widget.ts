import * as fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { BotsRepo } from '../repos/bots';
import { NotFoundError } from '../core/errors';
import { PACKAGE_ROOT } from '../core/package-root';
import { escapeHtml } from './html';

/** Where `npm run build` (and `npm run build:widget`) puts the widget bundle. */
const WIDGET_DIR = join(PACKAGE_ROOT, 'dist', 'widget');

/**
 * How often the disk is looked at again: outside production for a rebuild, and everywhere
 * while the bundle is missing (built after the api started). Once a second is soon enough
 * for someone reloading a page, and far from once a request.
 */
const RECHECK_MILLIS = 1000;

/** The file system calls the bundle needs; tests pass counting ones. */
export type WidgetFs = Pick<typeof fsPromises, 'stat' | 'readFile'>;

interface Bundle {
  code: Buffer;
  /** The same, gzipped once per build: most browsers ask for it, and it is a third of the size. */
  gzipped: Buffer;
  etag: string;
  mtimeMs: number;
}

/**
 * The bundle, served from memory. Each request used to `stat` the file, and a stat waits for
 * one of libuv's 4 threads, which anything else slow on that pool (a burst of hashes once)
 * could hold for seconds: now production reads the file once, on the first request, and
 * never looks at the disk again (a new build ships with a restart). Outside production a
 * rebuild is picked up within RECHECK_MILLIS: one stat at most that often, a reread only when
 * the file changed. A missing bundle is looked for again at most that often, in any mode.
 * Requests that arrive while the disk is being read share that one read.
 */
function bundleSource(options: { dir: string; isProduction: boolean; fs: WidgetFs; now: () => number }) {
  const { dir, fs, now } = options;
  let cached: Bundle | undefined;
  let checkedAt = -Infinity;
  let reading: Promise<Bundle | undefined> | undefined;

  async function refresh(): Promise<Bundle | undefined> {
    checkedAt = now();
    const path = join(dir, 'widget.js');
    const info = await fs.stat(path).catch(() => undefined);
    if (!info) {
      cached = undefined;
      return undefined;
    }
    if (cached?.mtimeMs !== info.mtimeMs) {
      const [code, meta] = await Promise.all([
        fs.readFile(path),
        fs
          .readFile(join(dir, 'widget.meta.json'), 'utf8')
          .then((text) => JSON.parse(text) as { hash?: string })
          .catch(() => ({ hash: undefined })),
      ]);
      cached = {
        code,
        gzipped: gzipSync(code, { level: 9 }),
        etag: `"${meta.hash ?? info.mtimeMs.toString(36)}"`,
        mtimeMs: info.mtimeMs,
      };
    }
    return cached;
  }

  return (): Bundle | undefined | Promise<Bundle | undefined> => {
    if (cached && options.isProduction) return cached;
    if (reading) return reading;
    if (now() - checkedAt < RECHECK_MILLIS) return cached;
    reading = refresh().finally(() => {
      reading = undefined;
    });
    return reading;
  };
}

/** If-None-Match as RFC 9110 reads it: `*`, or a list of (possibly weak) tags, compared weakly. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}

/** Whether the client takes gzip (`Accept-Encoding: gzip`, not refused with q=0). */
const acceptsGzip = (header: string | undefined) =>
  header !== undefined &&
  header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    return coding === 'gzip' && !params.some((param) => /^\s*q=0(?:\.0*)?\s*$/.test(param));
  });

/**
 * Styles a careless site might set for every button, text box and list item: the bot pages
 * carry them on purpose (and say so), to show that none of it reaches the widget.
 */
const HOSTILE_CSS =
  'button, textarea, li { background: #ff0 !important; color: #c00 !important; font-family: cursive !important; }';

/** A host page with styles of its own that would clash with a widget not kept apart (Shadow DOM). */
function demoPage(title: string, body: string, script = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 18px/1.5 Georgia, serif; margin: 3rem auto; max-width: 40rem; padding: 0 1rem; color: #222; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; }
  ${script ? HOSTILE_CSS : ''}
</style>
</head>
<body>
${body}
${script}
</body>
</html>`;
}

/**
 * `GET /widget.js`: the embeddable chat widget (widget/src, built by esbuild), for any site to
 * load cross-origin. Outside production, `GET /demo` lists the demo owner's bots, each with a
 * page that embeds the widget as a site owner would.
 */
export function registerWidgetRoutes(
  fastify: FastifyInstance,
  deps: {
    bots: Pick<BotsRepo, 'listByOwnerEmail' | 'findByPublicKey'>;
    isProduction: boolean;
    demoOwnerEmail: string;
    /** Where the bundle is; default dist/widget. */
    dir?: string;
    /** Default node:fs/promises. */
    fs?: WidgetFs;
    /** The clock rechecks are timed by; default Date.now. */
    now?: () => number;
  },
): void {
  const readBundle = bundleSource({
    dir: deps.dir ?? WIDGET_DIR,
    isProduction: deps.isProduction,
    fs: deps.fs ?? fsPromises,
    now: deps.now ?? Date.now,
  });

  fastify.get('/widget.js', async (request, reply) => {
    const bundle = await readBundle();
    if (!bundle) throw new NotFoundError('Widget bundle (run `npm run build:widget`)', 'widget.js');
    reply
      .header('content-type', 'application/javascript; charset=utf-8')
      // The embed tag names /widget.js without a version: a short cache, revalidated by ETag.
      .header('cache-control', 'public, max-age=300')
      .header('etag', bundle.etag)
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('x-content-type-options', 'nosniff')
      .header('vary', 'accept-encoding');
    if (matchesEtag(request.headers['if-none-match'], bundle.etag)) return reply.code(304).send();
    if (acceptsGzip(request.headers['accept-encoding'])) {
      return reply.header('content-encoding', 'gzip').send(bundle.gzipped);
    }
    return reply.send(bundle.code);
  });

  if (deps.isProduction) return;

  fastify.get('/demo', async (_request, reply) => {
    const bots = await deps.bots.listByOwnerEmail(deps.demoOwnerEmail);
    const items = bots
      .map(
        (bot) =>
          `<li><a href="/demo/${encodeURIComponent(bot.publicKey)}">${escapeHtml(bot.name)}</a>${
            bot.description ? ` — ${escapeHtml(bot.description)}` : ''
          }</li>`,
      )
      .join('\n');
    return reply
      .type('text/html; charset=utf-8')
      .send(
        demoPage(
          'Parley widget demo',
          `<h1>Parley widget demo</h1>\n<p>Each page embeds the chat widget for one demo bot, as a site would.</p>\n<ul>\n${
            items || '<li>No demo bots: run <code>make seed</code>.</li>'
          }\n</ul>`,
        ),
      );
  });

  fastify.get<{ Params: { publicKey: string } }>('/demo/:publicKey', async (request, reply) => {
    const bot = await deps.bots.findByPublicKey(request.params.publicKey);
    if (!bot) throw new NotFoundError('Bot with public key', request.params.publicKey);
    const key = escapeHtml(request.params.publicKey);
    return reply.type('text/html; charset=utf-8').send(
      demoPage(
        `${bot.name} — Parley widget demo`,
        `<h1>${escapeHtml(bot.name)}</h1>
<p>This page stands for an owner's site. The chat button at the bottom right is the widget, added
with one tag:</p>
<pre>&lt;script src="/widget.js" data-public-key="${key}" async&gt;&lt;/script&gt;</pre>
<p>This page paints every button, text box and list item yellow and red on purpose, as a careless
site might: the widget keeps its own look.</p>
<p><a href="/demo">All demo bots</a></p>`,
        `<script src="/widget.js" data-public-key="${key}" async></script>`,
      ),
    );
  });
}
