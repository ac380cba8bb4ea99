import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { RedisClient } from '../../src/platform/redis/connection';
import { runDlqCommand, type DlqDeps } from '../../src/buffer/dlq-commands';
import { decodeIntent, encodeIntent, INTENT_VERSION, type Intent } from '../../src/buffer/intent';
import { createWriteBuffer, type WriteBuffer } from '../../src/buffer/write-buffer';
import { createCacheKeys } from '../../src/platform/redis/keys';
import type { Config } from '../../src/config/config';
import { newId } from '../../src/core/ids';
import { connectTestRedis, redisEnvOf, testBufferShards } from '../helpers/redis';
import { bufferKeysOf, testIntent } from '../helpers/buffer';
import { createBufferShards } from '../../src/buffer/shards';
import { createBot, signUpOwner, startTestApp } from '../helpers/test-app';

const ROOT = resolve(__dirname, '../..');

/** An intent as the api builds it; `attempts` failed flushes so far. */
function makeIntent(attempts = 2, ids: { botId?: string; senderId?: string } = {}): Intent {
  return {
    ...testIntent({
      botId: ids.botId ?? newId(),
      senderId: ids.senderId ?? newId(),
      question: 'Is the shop open?',
      answer: 'From 7am.',
    }),
    attempts,
  };
}

let claimCount = 0;

type BufferKeys = ReturnType<typeof bufferKeysOf>;

/**
 * Puts a dead letter in place as a worker would: push, claim, dead-letter. `raw` stands for
 * an intent the worker could not read (pushed as is); its dead letter has no intent.
 */
async function deadLetter(
  buffer: WriteBuffer,
  redis: RedisClient,
  keys: BufferKeys,
  what: { intent: Intent } | { raw: string },
  error = 'boom',
  failedAt = new Date(),
): Promise<string> {
  // An unreadable intent names no conversation: it sits in the first shard.
  const shard = 'intent' in what ? buffer.shardOf(what.intent.conversation.id) : 0;
  if ('intent' in what) expect((await buffer.push(what.intent)).kind).toBe('QUEUED');
  else await redis.lpush(keys.all[shard]!.pending(), what.raw);
  const claimId = `dlq-test:${++claimCount}`;
  const [raw] = await buffer.claim(shard, claimId, 10, 30_000);
  expect(raw).toBeDefined();
  expect(
    await buffer.deadLetter(shard, claimId, raw!, 'intent' in what ? what.intent : undefined, error, failedAt),
  ).toBe(true);
  return raw!;
}

/** Valid JSON, but of an intent version this release cannot read. */
const unreadableRaw = () => JSON.stringify({ ...JSON.parse(encodeIntent(makeIntent())), v: INTENT_VERSION + 1 });

describe('dead-letter commands (npm run dlq)', () => {
  let redis: RedisClient;
  let settings: Config['redis'];
  let drop: () => Promise<void>;
  let keys: BufferKeys;
  let buffer: WriteBuffer;

  beforeEach(async () => {
    ({ redis, settings, drop } = await connectTestRedis());
    const config = { redis: settings, buffer: { shards: Number(testBufferShards()) } };
    keys = bufferKeysOf(config);
    buffer = createWriteBuffer({
      redis,
      keys: createCacheKeys(settings.keyPrefix),
      shards: createBufferShards(config.buffer.shards),
      maxDepth: 1000,
    });
  });
  afterEach(() => drop());

  /** Runs a command against this test's prefix; returns its exit code and output lines. */
  async function dlq(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const deps: DlqDeps = {
      buffer,
      prefix: settings.keyPrefix,
      out: (line) => out.push(line),
      err: (line) => err.push(line),
    };
    const code = await runDlqCommand(args, deps, async () => deps);
    return { code, out, err: err.join('\n') };
  }

  const pending = async () =>
    (await Promise.all(keys.all.map((shard) => redis.lrange(shard.pending(), 0, -1)))).flat().map(decodeIntent);
  const deadCount = async () =>
    (await Promise.all(keys.all.map((shard) => redis.hlen(shard.dead())))).reduce((sum, n) => sum + n, 0);
  const deadIds = async () => (await Promise.all(keys.all.map((shard) => redis.hkeys(shard.dead())))).flat();

  it('lists one line per dead letter, oldest first: id, failedAt, attempts and the error shortened to one line', async () => {
    const first = makeIntent();
    const second = makeIntent(0);
    const longError = `insert or update on table "messages" violates foreign key constraint\n${'detail '.repeat(40)}`;
    await deadLetter(buffer, redis, keys, { intent: second }, longError, new Date('2025-03-01T10:00:01.000Z'));
    await deadLetter(buffer, redis, keys, { intent: first }, 'boom', new Date('2025-03-01T10:00:00.000Z'));

    const { code, out, err } = await dlq('list');
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(`${first.message.id}\t2025-03-01T10:00:00.000Z\tattempts=3\tboom`);
    const [id, failedAt, attempts, error] = out[1]!.split('\t');
    expect([id, failedAt, attempts]).toEqual([second.message.id, '2025-03-01T10:00:01.000Z', 'attempts=1']);
    // The newline and the run of spaces collapse; the line stops at 80 characters with an ellipsis.
    expect(error).toBe(`${longError.replace(/\s+/g, ' ').slice(0, 79)}…`);
    expect(error).toHaveLength(80);
  });

  it('says on stderr that there are none, leaving stdout empty', async () => {
    const { code, out, err } = await dlq('list');
    expect(code).toBe(0);
    expect(out).toEqual([]);
    expect(err).toBe(`No dead letters under "${settings.keyPrefix}".`);
  });

  it('shows an entry as indented JSON with its intent parsed', async () => {
    const intent = makeIntent();
    await deadLetter(buffer, redis, keys, { intent }, 'boom', new Date('2025-03-01T10:00:00.000Z'));
    const { code, out } = await dlq('show', intent.message.id);
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^{\n {2}"id": /);
    expect(JSON.parse(out[0]!)).toEqual({
      id: intent.message.id,
      error: 'boom',
      attempts: 3,
      failedAt: '2025-03-01T10:00:00.000Z',
      // Which shard holds it: what an operator looks at in Redis.
      shard: buffer.shardOf(intent.conversation.id),
      intent: JSON.parse(encodeIntent(intent)),
    });
  });

  it('replays a dead letter: pending again with attempts 0, its messages QUEUED, the dead letter gone', async () => {
    const intent = makeIntent();
    await deadLetter(buffer, redis, keys, { intent });
    const ids = [intent.message.id, intent.reply.id];
    expect([...(await buffer.statuses(ids)).values()].map((status) => status.status)).toEqual(['FAILED', 'FAILED']);

    const { code, out, err } = await dlq('replay', intent.message.id);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toEqual([expect.stringMatching(new RegExp(`^Replayed ${intent.message.id}: .*attempts 0`))]);

    expect(await pending()).toEqual([{ ...intent, attempts: 0 }]);
    expect(await deadCount()).toBe(0);
    const queued = { conversationId: intent.conversation.id, status: 'QUEUED', error: null };
    expect(await buffer.statuses(ids)).toEqual(
      new Map([
        [intent.message.id, queued],
        [intent.reply.id, queued],
      ]),
    );
    expect(await buffer.conversationIntents(intent.conversation.id)).toEqual([
      { intent: { ...intent, attempts: 0 }, status: queued },
    ]);

    // Replayed once only: a second replay finds nothing and queues nothing.
    const again = await dlq('replay', intent.message.id);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(new RegExp(`No dead letter with id ${intent.message.id}`));
    expect(await pending()).toHaveLength(1);
  });

  it('drops a dead letter: its messages are no longer the buffer’s', async () => {
    const intent = makeIntent();
    await deadLetter(buffer, redis, keys, { intent });
    const { code, out } = await dlq('drop', intent.message.id);
    expect(code).toBe(0);
    expect(out).toEqual([`Dropped ${intent.message.id}.`]);
    expect(await deadCount()).toBe(0);
    expect(await buffer.statuses([intent.message.id, intent.reply.id])).toEqual(new Map());
    expect(await buffer.conversationIntents(intent.conversation.id)).toEqual([]);
    expect(await pending()).toEqual([]);
  });

  it('will not replay a dead letter it cannot read, says why and suggests dropping it', async () => {
    const raw = unreadableRaw();
    await deadLetter(buffer, redis, keys, { raw }, 'The intent does not match version 1');
    const [letter] = await buffer.deadLetters();
    const id = letter!.id;
    expect(id).toMatch(/^unreadable-/);

    const replay = await dlq('replay', id);
    expect(replay.code).toBe(1);
    expect(replay.out).toEqual([]);
    expect(replay.err).toMatch(new RegExp(`Dead letter ${id} cannot be replayed: its intent cannot be read`));
    expect(replay.err).toContain(`npm run dlq -- drop ${id}`);
    expect(await pending()).toEqual([]);
    expect(await deadCount()).toBe(1);

    // show gives the raw JSON and why it cannot be read.
    const show = await dlq('show', id);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.out[0]!)).toMatchObject({
      id,
      intent: null,
      raw,
      unreadable: expect.stringMatching(/does not match version 1/),
    });

    expect((await dlq('drop', id)).code).toBe(0);
    expect(await deadCount()).toBe(0);
  });

  it('replays every readable dead letter with --all, reports the unreadable ones, and drops all with --all', async () => {
    const intents = [makeIntent(), makeIntent()];
    for (const intent of intents) await deadLetter(buffer, redis, keys, { intent });
    await deadLetter(buffer, redis, keys, { raw: unreadableRaw() }, 'unreadable');
    const [unreadable] = (await buffer.deadLetters()).filter((letter) => letter.id.startsWith('unreadable-'));

    const replay = await dlq('replay', '--all');
    // Not all done: the exit code says so to a script.
    expect(replay.code).toBe(1);
    expect(replay.out).toEqual([`Replayed 2 of 3 dead letters under "${settings.keyPrefix}".`]);
    expect(replay.err).toContain(`Skipped ${unreadable!.id}`);
    expect((await pending()).map((intent) => [intent.message.id, intent.attempts]).sort()).toEqual(
      intents.map((intent) => [intent.message.id, 0]).sort(),
    );
    expect(await deadIds()).toEqual([unreadable!.id]);

    const dropAll = await dlq('drop', '--all');
    expect(dropAll.code).toBe(0);
    expect(dropAll.out).toEqual([`Dropped 1 dead letters under "${settings.keyPrefix}".`]);
    expect(await deadCount()).toBe(0);
    // The replayed ones are untouched.
    expect(await pending()).toHaveLength(2);
  });

  it('answers an unknown id with exit code 1 and says so, for show, replay and drop', async () => {
    await deadLetter(buffer, redis, keys, { intent: makeIntent() });
    for (const command of ['show', 'replay', 'drop']) {
      const { code, out, err } = await dlq(command, 'no-such-id');
      expect(code).toBe(1);
      expect(out).toEqual([]);
      expect(err).toBe(
        `No dead letter with id no-such-id under "${settings.keyPrefix}" (npm run dlq -- list shows them).`,
      );
    }
    expect(await deadCount()).toBe(1);
  });

  it.each([[[]], [['bogus']], [['show']], [['replay']], [['drop']], [['drop', '--bogus']], [['list', 'extra']]])(
    'prints the usage on stderr with exit code 2 for %j, touching nothing',
    async (args) => {
      await deadLetter(buffer, redis, keys, { intent: makeIntent() });
      const { code, out, err } = await dlq(...args);
      expect(code).toBe(2);
      expect(out).toEqual([]);
      expect(err).toMatch(/Usage: npm run dlq -- <command>/);
      expect(await deadCount()).toBe(1);
    },
  );

  it('runs as a CLI on REDIS_KEY_PREFIX whatever REDIS_ENABLED says, with exit codes', async () => {
    const intent = makeIntent();
    await deadLetter(buffer, redis, keys, { intent }, 'boom', new Date('2025-03-01T10:00:00.000Z'));
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
        const child = spawn('npx', ['tsx', 'src/cli/dlq.ts', ...args], {
          cwd: ROOT,
          env: {
            ...process.env,
            ...redisEnvOf(settings),
            REDIS_KEY_PREFIX: settings.keyPrefix,
            BUFFER_SHARDS: testBufferShards(),
            REDIS_ENABLED: 'false',
            // The default level: its "redis connected" must not land among the output.
            LOG_LEVEL: 'info',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', fail);
        child.on('close', (code) => done({ code, stdout, stderr }));
      });

    const [list, usage] = await Promise.all([cli('list'), cli('frobnicate')]);
    expect(list).toEqual({
      code: 0,
      stdout: `${intent.message.id}\t2025-03-01T10:00:00.000Z\tattempts=3\tboom\n`,
      stderr: '',
    });
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
    expect(usage.stderr).toMatch(/^Unknown command: frobnicate\nUsage: npm run dlq/);
  }, 30_000);
});

describe('a replayed dead letter, end to end', () => {
  it('is stored exactly once by a worker', async () => {
    const app = await startTestApp({ REDIS_ENABLED: 'true' }, { flusher: false });
    try {
      const owner = await signUpOwner(app, 'dlq-owner');
      const bot = await createBot(app, owner.token, 'Replayed');
      const buffer = app.deps.buffer!;
      const intent = makeIntent(2, { botId: bot.id, senderId: owner.userId });
      await deadLetter(buffer, app.deps.clients.redis!, bufferKeysOf(app.config), { intent });

      const out: string[] = [];
      const deps: DlqDeps = { buffer, prefix: app.config.redis.keyPrefix, out: (l) => out.push(l), err: () => {} };
      expect(await runDlqCommand(['replay', intent.message.id], deps, async () => deps)).toBe(0);
      // An operator's second try changes nothing.
      expect(await runDlqCommand(['replay', intent.message.id], deps, async () => deps)).toBe(1);

      const flusher = app.startFlusher();
      await app.drained();
      await flusher.stop();
      const rows = await app.deps.db('messages').where({ bot_id: bot.id }).select('id', 'content');
      expect(rows.sort((a, b) => a.id.localeCompare(b.id))).toEqual(
        [
          { id: intent.message.id, content: intent.message.content },
          { id: intent.reply.id, content: intent.reply.content },
        ].sort((a, b) => a.id.localeCompare(b.id)),
      );
      expect(await buffer.deadLetters()).toEqual([]);
      expect(await buffer.statuses([intent.message.id])).toEqual(new Map());
    } finally {
      await app.close();
    }
  }, 60_000);
});
