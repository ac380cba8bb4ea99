import type { RedisClient } from '../../src/platform/redis/connection';
import { type Intent } from '../../src/buffer/intent';
import { bufferKeysOf, claimAcrossShards, testIntent } from '../helpers/buffer';
import { closeRedis, createRedis } from '../../src/platform/redis/connection';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { newId } from '../../src/core/ids';
import { startRedisServer, stopRedisServers, type TestRedisServer } from '../helpers/redis-server';
import { createBot, getJson, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const silent = createLogger({ name: 'test', level: 'silent', pretty: false });
/** Intents acknowledged before Redis fills up; a few of them held by a worker that died. */
const QUEUED = 120;
const HELD_BY_DEAD_WORKER = 10;
/** Filler values: large enough that the fill takes a few hundred writes, not thousands. */
const FILLER_BYTES = 16 * 1024;
/** Ends the fill loop should Redis never refuse (it must, well before). */
const MAX_FILLER_KEYS = 2_000;
const SEND_MESSAGE = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id status } reply { id status } }
}`;

const usedMemory = async (redis: RedisClient) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);

/**
 * Issue 15, row 8: a Redis at maxmemory (noeviction) must still drain. Sends are refused
 * there (they go to PostgreSQL directly), but the scripts that move intents out (claim,
 * return an expired claim, acknowledge) only move or delete, and Redis must let them run.
 */
describe('the write buffer on a Redis at maxmemory (noeviction)', () => {
  let server: TestRedisServer;
  let admin: RedisClient;
  let app: TestApp;
  let owner: { token: string; userId: string };
  let bot: { id: string };
  const marker = `full-redis-${newId()}`;

  beforeAll(async () => {
    server = await startRedisServer({ args: ['--maxmemory', '8mb', '--maxmemory-policy', 'noeviction'] });
    admin = createRedis(loadConfig({ REDIS_ENABLED: 'true', REDIS_URL: server.url }).redis, silent);
    await admin.connect();
    app = await startTestApp({ REDIS_ENABLED: 'true', REDIS_URL: server.url }, { flusher: false });
    owner = await signUpOwner(app, 'full-redis');
    bot = await createBot(app, owner.token, 'Full Redis');
  });
  afterAll(async () => {
    await admin?.config('SET', 'maxmemory', '0').catch(() => {});
    await app?.close();
    if (admin) await closeRedis(admin);
    await stopRedisServers();
  });

  function makeIntent(i: number): Intent {
    return testIntent({
      botId: bot.id,
      senderId: owner.userId,
      question: `${marker} question ${i}`,
      answer: `${marker} answer ${i}`,
    });
  }

  it('refuses new sends (they are stored directly) and still drains every queued intent, once', async () => {
    const buffer = app.deps.buffer!;
    const intents = Array.from({ length: QUEUED }, (_, i) => makeIntent(i));
    for (const intent of intents) expect((await buffer.push(intent)).kind).toBe('QUEUED');
    // A worker that claimed some and died: its lease runs out, the reaper must give them back.
    expect(await claimAcrossShards(buffer, 'dead-worker:0', HELD_BY_DEAD_WORKER, 1)).toBe(HELD_BY_DEAD_WORKER);

    // Fill Redis with other data until it refuses writes, as a cache without a budget did.
    let refused: unknown;
    for (let i = 0; i < MAX_FILLER_KEYS && !refused; i++) {
      await admin.set(`filler:${i}`, 'x'.repeat(FILLER_BYTES)).catch((error: unknown) => (refused = error));
    }
    expect(String(refused)).toMatch(/^ReplyError: OOM command not allowed/);
    // Below what is used by more than the whole buffer holds: whatever the drain frees, Redis
    // stays full until the end of the test, so every step of it ran at maxmemory.
    await admin.config('SET', 'maxmemory', String((await usedMemory(admin)) - 1024 * 1024));

    // A push is refused; a send through the api is written to PostgreSQL directly instead.
    await expect(buffer.push(makeIntent(-1))).rejects.toThrow(/OOM command not allowed/);
    const sent = await app.gql(
      SEND_MESSAGE,
      { input: { botId: bot.id, text: `${marker} sent while full` } },
      owner.token,
    );
    expect(sent.errors).toBeUndefined();
    expect(sent.data!.sendMessage.message.status).toBe('PERSISTED');
    const health = await getJson(`${app.url}/health/buffer`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'degraded',
      depth: QUEUED - HELD_BY_DEAD_WORKER,
      inFlightIntents: HELD_BY_DEAD_WORKER,
      reasons: [expect.stringMatching(/^Sends fell back to PostgreSQL/)],
    });

    // A worker starts (a short lease: its reaper looks every half lease) and drains the buffer.
    const flusher = app.startFlusher({ leaseMillis: 1_000 });
    await app.drained();
    await flusher.stop();

    const ids = intents.flatMap((intent) => [intent.message.id, intent.reply.id]);
    const stored: { id: string }[] = await app.deps.db('messages').whereIn('id', ids).select('id');
    expect(new Set(stored.map((row) => row.id))).toEqual(new Set(ids));
    // Nothing doubled: every message with the marker is one of these, or the direct send's own
    // (its reply is in the bot's words).
    const marked = await app.deps.db('messages').where('content', 'like', `${marker}%`).count({ n: '*' });
    expect(marked).toEqual([{ n: String(ids.length + 1) }]);
    const direct = [sent.data!.sendMessage.message.id, sent.data!.sendMessage.reply.id];
    expect(await app.deps.db('messages').whereIn('id', direct).count({ n: '*' })).toEqual([{ n: '2' }]);
    expect(flusher.counters).toMatchObject({ flushed: QUEUED, deadLettered: 0, reaped: HELD_BY_DEAD_WORKER });

    expect(await buffer.stats()).toMatchObject({ depth: 0, inFlightIntents: 0, inFlightClaims: 0, deadLetters: 0 });
    for (const keys of bufferKeysOf(app.config).all) {
      expect(await admin.hlen(keys.queued())).toBe(0);
      expect(await admin.zcard(keys.claims())).toBe(0);
    }
    // Still full: the drain did not get there by freeing memory first.
    await expect(buffer.push(makeIntent(-2))).rejects.toThrow(/OOM command not allowed/);
  });
});
