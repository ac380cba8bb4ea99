/**
 * Builds the embeddable chat widget: widget/src/main.ts → dist/widget/widget.js (one minified
 * IIFE for browsers) and dist/widget/widget.meta.json ({ version, hash, bytes, gzipBytes }).
 *
 *   node scripts/build-widget.mjs            # or: import { buildWidget } from './build-widget.mjs'
 *
 * The banner names the package version and the first 12 hex digits of the SHA-256 of the
 * minified code, so a served file says which build it is. Same sources, same bytes: files that
 * would not change are not rewritten, and new ones replace old ones by rename, so a server never
 * reads half a file.
 */
import { build } from 'esbuild';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Writes `text` to `file` unless it already holds exactly that. */
async function writeIfChanged(file, text) {
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing === text) return;
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}

/**
 * @param {{ outDir?: string }} [options] outDir defaults to dist/widget under the repository.
 * @returns {Promise<{ file: string, version: string, hash: string, bytes: number, gzipBytes: number }>}
 */
export async function buildWidget({ outDir = path.join(root, 'dist', 'widget') } = {}) {
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['widget/src/main.ts'],
    bundle: true,
    format: 'iife',
    minify: true,
    target: 'es2020',
    platform: 'browser',
    tsconfig: 'widget/tsconfig.json',
    charset: 'utf8',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].text;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 12);
  const text = `/*! Parley widget ${version} ${hash} */\n${code}`;
  const bytes = Buffer.byteLength(text);
  const gzipBytes = gzipSync(text, { level: 9 }).length;

  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, 'widget.js');
  // The meta first: a server that sees a new widget.js and rereads the meta gets its hash.
  await writeIfChanged(
    path.join(outDir, 'widget.meta.json'),
    `${JSON.stringify({ version, hash, bytes, gzipBytes }, null, 2)}\n`,
  );
  await writeIfChanged(file, text);
  return { file, version, hash, bytes, gzipBytes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildWidget().then(
    ({ file, hash, bytes, gzipBytes }) =>
      process.stdout.write(
        `${path.relative(process.cwd(), file)}: ${bytes} bytes, ${gzipBytes} gzipped (sha256 ${hash})\n`,
      ),
    (error) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
