import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

// The layer check (`npm run lint:layers`, .dependency-cruiser.cjs) run on small trees laid out
// like src/: it must pass a tree whose imports run down the layers and fail each kind of
// planted mistake, naming the rule.
const ROOT = join(__dirname, '..', '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const BASE: Record<string, string> = {
  'src/core/errors.ts': 'export const code = 1;\n',
  'src/cache/cache-layer.ts': "import { code } from '../core/errors';\nexport const cache = code;\n",
  'src/sessions/session-store.ts': "import { cache } from '../cache/cache-layer';\nexport const store = cache;\n",
  'src/http/server.ts': "import { store } from '../sessions/session-store';\nexport const server = store;\n",
  'src/main.ts': "import { server } from './http/server';\nexport const main = server;\n",
};

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function check(files: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-layers-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries({
    ...files,
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16' } }),
  })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [DEPCRUISE, '--config', CONFIG, 'src'], {
      cwd: dir,
    });
    return { ok: true, output: stdout };
  } catch (error: unknown) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('the layer check', () => {
  it('passes imports that run down the layers', async () => {
    const result = await check(BASE);
    expect(result).toEqual({ ok: true, output: expect.stringContaining('no dependency violations found') });
  });

  it('fails an import that runs back up a layer, naming the layer', async () => {
    const result = await check({
      ...BASE,
      'src/core/errors.ts': "import { server } from '../http/server';\nexport const code = server ? 1 : 0;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('core-imports-upward');
  });

  it('fails two folders of one layer that import each other through different modules', async () => {
    const result = await check({
      ...BASE,
      'src/cache/entity-cache.ts':
        "import { store } from '../sessions/session-store';\nexport const entities = store;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('no-folder-cycle');
    expect(result.output).not.toContain('no-circular');
  });

  it('fails a module that reaches itself', async () => {
    const result = await check({
      ...BASE,
      'src/cache/cache-layer.ts':
        "import { code } from '../core/errors';\nimport { later } from './invalidation';\nexport const cache = code + later;\n",
      'src/cache/invalidation.ts': "import { cache } from './cache-layer';\nexport const later = cache;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('no-circular');
  });

  it('fails the api importing the worker', async () => {
    const result = await check({
      ...BASE,
      'worker/main.ts': 'export const worker = 1;\n',
      'src/main.ts':
        "import { server } from './http/server';\nimport { worker } from '../worker/main';\nexport const main = server + worker;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('src-imports-worker');
  });
});
