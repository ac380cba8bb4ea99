import { createBufferShards } from '../../src/buffer/shards';
import { createWriteBuffer } from '../../src/buffer/write-buffer';
import { createLogger } from '../../src/core/logger';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { closeRedis, createRedis } from '../../src/platform/redis/connection';
import { createBot, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';
import { testIntent } from '../helpers/buffer';

const INTENTS = 20;
const READINGS = 300;
const silent = createLogger({ name: 'test', level: 'silent', pretty: false });

/**
 * The buffer's statistics are one reading: while another connection moves intents between
 * the pending list and a claim and back, every reading finds each intent exactly once.
 * Separate reads counted an intent given back between them in neither place, and one claimed
 * between them in both; a drained-looking buffer then still held intents (a worker's claim
 * returned by the reaper while `/health/buffer` or a drain check read it).
 */
describe('write buffer statistics', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'true' }, { flusher: false });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('count every intent once while intents move between the pending list and a claim', async () => {
    const buffer = app.deps.buffer!;
    const owner = await signUpOwner(app, 'buffer-stats');
    const bot = await createBot(app, owner.token, 'Stats');
    for (let i = 0; i < INTENTS; i++) {
      const intent = testIntent({ botId: bot.id, senderId: owner.userId, question: `q ${i}`, answer: `a ${i}` });
      expect((await buffer.push(intent)).kind).toBe('QUEUED');
    }

    // A worker of its own connection claims everything and gives it back, over and over.
    const moverRedis = createRedis(app.config.redis, silent);
    await moverRedis.connect();
    const mover = createWriteBuffer({
      redis: moverRedis,
      keys: createCacheKeys(app.config.redis.keyPrefix),
      shards: createBufferShards(app.config.buffer.shards),
      maxDepth: 1_000,
    });
    let reading = true;
    let moves = 0;
    const moving = (async () => {
      while (reading) {
        const claimId = `mover:${moves}`;
        const shard = moves % mover.shardCount;
        await mover.claim(shard, claimId, INTENTS, 60_000);
        await mover.returnClaim(shard, claimId, false);
        moves++;
      }
    })();

    const totals: number[] = [];
    try {
      for (let i = 0; i < READINGS; i++) {
        const stats = await buffer.stats();
        totals.push(stats.depth + stats.inFlightIntents);
      }
    } finally {
      reading = false;
      await moving;
      await closeRedis(moverRedis);
    }
    // The mover moved all the while (else the readings prove nothing).
    expect(moves).toBeGreaterThan(0);
    expect(totals.filter((total) => total !== INTENTS)).toEqual([]);
  });
});
