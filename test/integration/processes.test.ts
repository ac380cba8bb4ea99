import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import knex from 'knex';
import { newId } from '../../src/ids';
import { createTestDatabase } from '../helpers/databases';
import { eventually } from '../helpers/test-app';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** `npm run start:api` / `start:worker` as an operator runs them: a real process, configured by its environment. */
function start(entry: string, env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(TSX, [entry], {
    cwd: ROOT,
    // Only what the test sets, so nothing from the developer's shell changes the outcome.
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe('processes', () => {
  let database: { url: string; drop(): Promise<void> };
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await database.drop();
  });

  it('refuses to start with invalid settings, naming every problem in one message', async () => {
    const { child, output } = start('src/main.ts', { PORT: 'eighty', REDIS_DB: '99', DATABASE_URL: 'mysql://x/y' });
    children.push(child);
    expect(await exitCode(child)).toBe(1);
    expect(output()).toMatch(/^Invalid configuration:\n/);
    for (const name of ['PORT', 'REDIS_DB', 'DATABASE_URL']) expect(output()).toContain(`  - ${name}:`);
  });

  it('refuses to start against a database migrated with another embedding dimension', async () => {
    const { child, output } = start('worker/main.ts', { DATABASE_URL: database.url, EMBEDDING_DIMENSION: '512' });
    children.push(child);
    expect(await exitCode(child)).toBe(1);
    expect(output()).toContain('EMBEDDING_DIMENSION is 512 but the database stores vectors of 1024');
  });

  it('runs the api until SIGTERM, then stops cleanly', async () => {
    const port = String(20_000 + Math.floor(Math.random() * 20_000));
    const { child, output } = start('src/main.ts', { DATABASE_URL: database.url, PORT: port, HOST: '127.0.0.1' });
    children.push(child);
    await eventually(async () => (output().includes('Parley API ready') ? true : undefined));
    const health = await fetch(`http://127.0.0.1:${port}/health/db`);
    expect(health.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exitCode(child)).toBe(0);
    expect(output()).toContain('"msg":"stopped"');
  });

  it('runs the worker until SIGTERM, ingesting what is queued', async () => {
    const db = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
    const [userId, botId, sourceId] = [newId(), newId(), newId()];
    try {
      await db('users').insert({ id: userId, email: 'worker@example.com', password_hash: 'x' });
      await db('bots').insert({ id: botId, owner_id: userId, name: 'b', public_key: `pk_${botId}` });
      await db('sources').insert({
        id: sourceId,
        bot_id: botId,
        kind: 'TEXT',
        title: 'Hours',
        content: 'The library opens at nine and closes at five.',
        content_format: 'text',
      });
      const { child, output } = start('worker/main.ts', { DATABASE_URL: database.url, INGEST_POLL_MILLIS: '50' });
      children.push(child);
      const source = await eventually(async () => {
        const row = await db('sources').where({ id: sourceId }).first('status', 'chunk_count');
        return row.status === 'READY' ? row : undefined;
      });
      expect(source.chunk_count).toBe(1);
      child.kill('SIGTERM');
      expect(await exitCode(child)).toBe(0);
      expect(output()).toContain('"msg":"stopped"');
    } finally {
      await db.destroy();
    }
  });
});
