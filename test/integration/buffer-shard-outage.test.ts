import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { createBufferShards } from '../../src/buffer/shards';
import { testIntent } from '../helpers/buffer';
import { startRedisServer, stopRedisServers, type TestRedisServer } from '../helpers/redis-server';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const run = promisify(execFile);
const SHARDS = 16;

/**
 * A buffer shard whose master is down (no replica to take over) holds back only its own
 * intents: the workers flush the other shards meanwhile, and the lost master's intents once it
 * is back. A cluster of this file's own: 3 masters, no replicas, AOF on, serving the slots it
 * still has while one master is down.
 */
describe('a buffer shard whose master is down', () => {
  let masters: TestRedisServer[];
  let app: TestApp;

  beforeAll(async () => {
    masters = await Promise.all(
      [0, 1, 2].map(() =>
        startRedisServer({
          appendonly: true,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
            '--cluster-require-full-coverage',
            'no',
          ],
        }),
      ),
    );
    const addresses = masters.map(({ port }) => `127.0.0.1:${port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    await eventually(async () => {
      const states = await Promise.all(
        masters.map(async ({ port }) => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout),
      );
      return states.every((info) => info.includes('cluster_state:ok'));
    }, 30_000);
    app = await startTestApp(
      { REDIS_ENABLED: 'true', REDIS_CLUSTER_NODES: addresses.join(','), BUFFER_SHARDS: String(SHARDS) },
      { flusher: false },
    );
  }, 90_000);
  afterAll(async () => {
    await app?.close();
    await stopRedisServers();
  });

  it('keeps the other shards flushing, and flushes its own once the master is back', async () => {
    const owner = await signUpOwner(app, 'shard-outage');
    const bot = await createBot(app, owner.token, 'Shard outage');
    const shards = createBufferShards(SHARDS);
    // The cluster gives the slots out in three even ranges, in the order of the addresses: the
    // last master serves the shards whose tags hash to the top third.
    const lost = masters[2]!;
    const onLost = (shard: number) => calculateSlot(shards.tags[shard]!) >= Math.ceil((2 * 16_384) / 3);
    const intents = Array.from({ length: SHARDS * 4 }, (_, i) =>
      testIntent({ botId: bot.id, senderId: owner.userId, question: `q${i}`, answer: `a${i}`, shards }),
    );
    for (const intent of intents) expect((await app.deps.buffer!.push(intent)).kind).toBe('QUEUED');
    const held = intents.filter((intent) => onLost(shards.ofId(intent.conversation.id)));
    const elsewhere = intents.filter((intent) => !onLost(shards.ofId(intent.conversation.id)));
    expect(held.length).toBeGreaterThan(0);
    expect(elsewhere.length).toBeGreaterThan(0);

    await lost.kill();
    const flusher = app.startFlusher({ flushConcurrency: 2 });
    const stored = async (some: typeof intents) =>
      Number(
        (
          await app.deps
            .db('messages')
            .whereIn(
              'id',
              some.map((intent) => intent.message.id),
            )
            .count({ n: '*' })
        )[0]!.n,
      );
    await eventually(async () => (await stored(elsewhere)) === elsewhere.length, 30_000);
    expect(await stored(held)).toBe(0);

    // Back, with its AOF: its intents are flushed too, each once, none dead-lettered.
    await lost.restart();
    await eventually(async () => (await stored(held)) === held.length, 60_000);
    await flusher.stop();
    expect(await stored(intents)).toBe(intents.length);
    expect(flusher.counters.deadLettered).toBe(0);
    expect(await app.deps.db('messages').where({ bot_id: bot.id }).count({ n: '*' })).toEqual([
      { n: String(2 * intents.length) },
    ]);
  }, 120_000);
});
