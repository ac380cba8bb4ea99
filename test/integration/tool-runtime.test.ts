import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { createToolRuntime } from '../../src/runtime';
import { createTestDatabase } from '../helpers/databases';
import { connectTestRedis, redisEnvOf } from '../helpers/redis';
import { startRedisServer, stopRedisServers } from '../helpers/redis-server';

const ROOT = join(__dirname, '..', '..');
const silent = createLogger({ name: 'test', level: 'silent', pretty: false });
/** A loopback port nothing listens on (tcpmux): every connection there is refused at once. */
const REFUSED = 'redis://127.0.0.1:1';

describe('the command-line tools’ runtime', () => {
  it('connects nothing until asked, each connection once, and releases what it made', async () => {
    const database = await createTestDatabase();
    // A Redis of this test's own: its client count is this runtime's and the probe's alone.
    const server = await startRedisServer();
    const { redis: probe, settings, drop } = await connectTestRedis({ REDIS_URL: server.url });
    try {
      const config = loadConfig({ DATABASE_URL: database.url, REDIS_URL: settings.url, REDIS_ENABLED: 'false' });
      const runtime = createToolRuntime(config, silent);
      const clientsBefore = Number((await probe.info('clients')).match(/connected_clients:(\d+)/)![1]);

      const [first, second] = await Promise.all([runtime.redis(), runtime.redis()]);
      expect(second).toBe(first);
      expect(await first.ping()).toBe('PONG');
      const db = await runtime.db();
      expect((await db.raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // REDIS_CACHE_URL unset: the cache's Redis is the same server, on a connection of its own.
      expect(await (await runtime.cacheRedis()).ping()).toBe('PONG');
      expect(Number((await probe.info('clients')).match(/connected_clients:(\d+)/)![1])).toBe(clientsBefore + 2);

      const ended = once(first, 'end');
      await runtime.release();
      await ended;
      await expect(db.raw('SELECT 1')).rejects.toThrow();
    } finally {
      await drop();
      await database.drop();
      await stopRedisServers();
    }
  });

  it('needs no service for what it is not asked, and releases a connection that failed', async () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: REFUSED });
    const unused = createToolRuntime(config, silent);
    await expect(unused.release()).resolves.toBeUndefined();

    const failing = createToolRuntime(config, silent);
    await expect(failing.redis()).rejects.toThrow(/127\.0\.0\.1:1/);
    // The same failure again, not a second connection attempt.
    await expect(failing.redis()).rejects.toThrow(/127\.0\.0\.1:1/);
    await expect(failing.release()).resolves.toBeUndefined();
  });
});

describe('npm run cache:flush', () => {
  it('deletes the deployment’s cache keys and nothing else, without REDIS_ENABLED', async () => {
    const { redis, settings, drop } = await connectTestRedis();
    const prefix = settings.keyPrefix;
    const keys = createCacheKeys(prefix);
    try {
      const cached = keys.cachePatterns().map((pattern) => pattern.replace('*', 'x'));
      const kept = [
        `${prefix}bot:gen`,
        keys.bufferShard('buffer').pending(),
        `${prefix}session:abc`,
        `other-${prefix}bot:x`,
      ];
      for (const key of [...cached, ...kept]) await redis.set(key, '1');
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((done, fail) => {
        const child = spawn('npx', ['tsx', 'src/cli/cache-flush.ts'], {
          cwd: ROOT,
          env: {
            ...process.env,
            ...redisEnvOf(settings),
            REDIS_KEY_PREFIX: prefix,
            REDIS_ENABLED: 'false',
            LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', fail);
        child.on('close', (exit) => done({ code: exit, stdout: out }));
      });
      expect({ code, stdout }).toEqual({ code: 0, stdout: `Deleted ${cached.length} cache keys under "${prefix}".\n` });
      for (const key of cached) expect(await redis.exists(key)).toBe(0);
      for (const key of kept) expect(await redis.exists(key)).toBe(1);
    } finally {
      await redis.del(`other-${prefix}bot:x`);
      await drop();
    }
  }, 30_000);
});
