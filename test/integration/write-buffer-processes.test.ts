import type { ChildProcess } from 'node:child_process';
import knex, { type Knex } from 'knex';
import { type Intent } from '../../src/buffer/intent';
import { createWriteBuffer, type WriteBuffer } from '../../src/buffer/write-buffer';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { newId } from '../../src/core/ids';
import { createTestDatabase } from '../helpers/databases';
import { WORKER, ensureBuilt, exited, start, type Started } from '../helpers/processes';
import { connectTestRedis, testBufferShards, testKeyPrefix } from '../helpers/redis';
import { createBufferShards } from '../../src/buffer/shards';
import { eventually } from '../helpers/test-app';
import { testIntent } from '../helpers/buffer';

const REDIS_KEY_PREFIX = testKeyPrefix();
const KILLS = 10;
/** Short, so the claims of a killed worker come back within the test. */
const LEASE_MILLIS = 1000;

const pause = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

describe('write buffer with real worker processes (compiled build)', () => {
  let database: { url: string; drop(): Promise<void> };
  let db: Knex;
  let redis: Awaited<ReturnType<typeof connectTestRedis>>;
  let buffer: WriteBuffer;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    [database] = await Promise.all([createTestDatabase(), ensureBuilt()]);
    db = knex({ client: 'pg', connection: database.url });
    redis = await connectTestRedis({ REDIS_KEY_PREFIX });
    buffer = createWriteBuffer({
      redis: redis.redis,
      keys: createCacheKeys(REDIS_KEY_PREFIX),
      shards: createBufferShards(Number(testBufferShards())),
      maxDepth: 1_000_000,
    });
  }, 180_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db?.destroy();
    await database?.drop();
    await redis?.drop();
  });

  const worker = (): Started => {
    const started = start(WORKER, {
      DATABASE_URL: database.url,
      REDIS_KEY_PREFIX,
      BUFFER_LEASE_MILLIS: String(LEASE_MILLIS),
      // Small batches: more claims in flight when the kill comes.
      BUFFER_BATCH_SIZE: '20',
      LOG_LEVEL: 'warn',
    });
    children.push(started.child);
    return started;
  };

  async function seedBot(): Promise<{ botId: string; userId: string }> {
    const userId = newId();
    const botId = newId();
    await db('users').insert({ id: userId, email: `${userId}@example.com`, password_hash: 'x' });
    await db('bots').insert({ id: botId, owner_id: userId, name: 'Killed worker bot', public_key: `pk_${botId}` });
    return { botId, userId };
  }

  const intents = (botId: string, userId: string, count: number): Intent[] =>
    Array.from({ length: count }, (_, i) => {
      return testIntent({ botId, senderId: userId, question: `q${i}`, answer: `a${i}` });
    });

  it('loses and duplicates nothing when the worker is SIGKILLed 10 times mid-flush', async () => {
    const { botId, userId } = await seedBot();
    const pushed: Intent[] = [];
    const push = async (batch: Intent[]) => {
      const results = await Promise.all(batch.map((intent) => buffer.push(intent)));
      expect(results.every((result) => result.kind === 'QUEUED')).toBe(true);
      pushed.push(...batch);
    };
    await push(intents(botId, userId, 3000));

    // Sends keep arriving while workers die.
    let sending = true;
    const producer = (async () => {
      while (sending) {
        await push(intents(botId, userId, 50));
        await pause(50);
      }
    })();

    const workers: Started[] = [];
    const rowsNow = async () => Number((await db('messages').where({ bot_id: botId }).count('* as n'))[0]!.n);
    for (let kill = 0; kill < KILLS; kill++) {
      const before = await rowsNow();
      const victim = worker();
      workers.push(victim);
      // Killed once it is storing: some of its claims are committed, some in flight.
      await eventually(async () => (await rowsNow()) > before, 30_000);
      await pause(Math.floor(Math.random() * 150));
      victim.child.kill('SIGKILL');
      expect(await exited(victim.child)).toEqual({ code: null, signal: 'SIGKILL' });
    }
    sending = false;
    await producer;

    const survivor = worker();
    workers.push(survivor);
    await eventually(async () => {
      const stats = await buffer.stats();
      return stats.depth === 0 && stats.inFlightIntents === 0;
    }, 60_000);
    survivor.child.kill('SIGTERM');
    expect(await exited(survivor.child)).toEqual({ code: 0, signal: null });

    const rows: { id: string; content: string }[] = await db('messages')
      .where({ bot_id: botId })
      .select('id', 'content');
    expect(rows).toHaveLength(pushed.length * 2);
    const byId = new Map(rows.map((row) => [row.id, row.content]));
    for (const intent of pushed) {
      expect(byId.get(intent.message.id)).toBe(intent.message.content);
      expect(byId.get(intent.reply.id)).toBe(intent.reply.content);
    }
    const bot = await db('bots').where({ id: botId }).first('message_count');
    expect(Number(bot.message_count)).toBe(pushed.length * 2);
    expect(await buffer.deadLetters()).toEqual([]);
    // The kills did land mid-claim: later workers had to take claims back from dead ones.
    const reaped = workers.flatMap((started) =>
      started.logs().filter((line) => line.msg === 'returned the intents of an expired claim to the queue'),
    );
    expect(reaped.length).toBeGreaterThan(0);
    // No claim left behind: every processing list is empty, and none is registered.
    expect(await redis.redis.keys(`${REDIS_KEY_PREFIX}buffer:{buffer}:claim:*`)).toEqual([]);
    expect(await redis.redis.zcard(`${REDIS_KEY_PREFIX}buffer:{buffer}:claims`)).toBe(0);
  }, 180_000);
});
