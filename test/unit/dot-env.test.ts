import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDotEnv } from '../../src/config/dot-env';

describe('.env (loadDotEnv)', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'parley-dot-env-'));
    file = join(dir, '.env');
    writeFileSync(
      file,
      '# a comment\nPORT=4100            # as in .env.example\nLOG_LEVEL=debug\nREDIS_URL="redis://127.0.0.1:6380"\n',
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fills in what the environment leaves unset, and never overrides what it sets', () => {
    const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'warn' };
    expect(loadDotEnv(env, file)).toEqual(['PORT', 'REDIS_URL']);
    expect(env).toEqual({ LOG_LEVEL: 'warn', PORT: '4100', REDIS_URL: 'redis://127.0.0.1:6380' });
  });

  it('reads nothing in production, whose environment comes from its supervisor', () => {
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'production' };
    expect(loadDotEnv(env, file)).toEqual([]);
    expect(env).toEqual({ NODE_ENV: 'production' });
  });

  it('does without a .env file', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadDotEnv(env, join(dir, 'missing'))).toEqual([]);
    expect(env).toEqual({});
  });
});
