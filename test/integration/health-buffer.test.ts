import Fastify from 'fastify';
import { Writable } from 'node:stream';
import pino from 'pino';
import { type Intent } from '../../src/buffer/intent';
import { checkBufferDurability } from '../../src/platform/redis/durability';
import { createBufferShards } from '../../src/buffer/shards';
import { createWriteBuffer } from '../../src/buffer/write-buffer';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { closeRedis, createRedis } from '../../src/platform/redis/connection';
import { registerBufferHealthRoute } from '../../src/http/health-buffer';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { connectThroughStallingProxy, deleteKeysWithPrefix } from '../helpers/redis';
import { startRedisServer, stopRedisServers } from '../helpers/redis-server';
import {
  createBot,
  errorCode,
  eventually,
  signUpOwner,
  startTestApp,
  type TestApp,
  getJson,
} from '../helpers/test-app';
import { testConversationId, testIntent } from '../helpers/buffer';

const silent = createLogger({ name: 'test', level: 'silent', pretty: false });
const GENERIC_ERROR = 'Redis did not answer; see the api log for the cause.';
const SEND_MESSAGE = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id status } } }`;
const BUFFER_SERIES = [
  'parley_buffer_depth',
  'parley_buffer_oldest_age_seconds',
  'parley_buffer_in_flight_intents',
  'parley_buffer_dead_letters',
  'parley_buffer_flush_rate',
  'parley_buffer_lag_seconds',
  'parley_buffer_flushed_total',
  'parley_buffer_oldest_in_flight_age_seconds',
  'parley_buffer_degraded',
];

/** The samples of a Prometheus text exposition without labels or with one, by name (comments skipped). */
async function scrape(app: TestApp): Promise<Map<string, number>> {
  const response = await fetch(`${app.url}/metrics`);
  expect(response.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    // Unlabelled samples, and ones with a single label (`name{label="value"}`), by their full name.
    const match = /^([a-zA-Z_:][\w:]*(?:\{\w+="[\w-]*"\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

/**
 * The clock the app's buffer reads ages against: it stands still, so an intent pushed
 * `ageMillis` before it is exactly that old however long the test takes.
 */
const NOW = Date.now();

/** An intent as the api builds it, pushed `ageMillis` before NOW. */
function makeIntent(botId: string, senderId: string, ageMillis = 0): Intent {
  return testIntent({ botId, senderId, question: 'Open on Sunday?', answer: 'No.', enqueuedAt: NOW - ageMillis });
}

describe('/health/buffer and the buffer series of /metrics, with Redis enabled', () => {
  const MAX_DEPTH = 10;
  let app: TestApp;
  let owner: { token: string; userId: string };
  let bot: { id: string };

  beforeAll(async () => {
    app = await startTestApp(
      // One shard: the figures below are the whole buffer's (the sharded answer is tested after).
      { REDIS_ENABLED: 'true', BUFFER_MAX_DEPTH: String(MAX_DEPTH), BUFFER_SHARDS: '1' },
      { flusher: false, now: () => NOW },
    );
    owner = await signUpOwner(app, 'buffer-health');
    bot = await createBot(app, owner.token, 'Observed');
  });
  // close() stops the stats flush before it deletes the app's keys.
  afterAll(() => app.close());
  // Every test starts from an empty buffer: this app's buffer keys only (its own prefix).
  beforeEach(() => deleteKeysWithPrefix(app.deps.clients.redis!, `${app.config.redis.keyPrefix}buffer:`));

  const push = async (count: number, ageMillis = 0) => {
    for (let i = 0; i < count; i++) {
      expect((await app.deps.buffer!.push(makeIntent(bot.id, owner.userId, ageMillis))).kind).toBe('QUEUED');
    }
  };

  it('answers ok with every figure, zeros while nothing has been sent', async () => {
    const { status, body } = await getJson(`${app.url}/health/buffer`);
    expect(status).toBe(200);
    const empty = {
      depth: 0,
      oldestAgeMillis: 0,
      oldestInFlightAgeMillis: 0,
      inFlightClaims: 0,
      inFlightIntents: 0,
      deadLetters: 0,
      flushedTotal: 0,
      flushRate: 0,
      lagMillis: 0,
      lastFlushAt: null,
    };
    expect(body).toEqual({
      status: 'ok',
      enabled: true,
      ...empty,
      fallbacks: 0,
      lastFallbackAt: null,
      refusedFull: 0,
      maxDepth: MAX_DEPTH,
      maxAgeSeconds: 60,
      shards: [{ shard: 0, ...empty }],
    });
    const samples = await scrape(app);
    expect(samples.get('parley_buffer_degraded')).toBe(0);
    expect(samples.get('parley_buffer_degraded_reason{reason="stale_intents"}')).toBe(0);
  });

  it('is degraded, still 200, while an intent has waited longer than BUFFER_MAX_AGE_SECONDS, queued or held by a worker', async () => {
    // Pushed two minutes ago by the buffer's clock (intents carry their push time): as the workers
    // of row 8 of issue 15 left them, whose claims Redis refused.
    await push(1, 120_000);
    await push(1);
    const queued = await getJson(`${app.url}/health/buffer`);
    expect(queued.status).toBe(200);
    expect(queued.body).toMatchObject({
      status: 'degraded',
      depth: 2,
      reasons: [expect.stringMatching(/waited 120 s to be stored, more than BUFFER_MAX_AGE_SECONDS \(60\)/)],
    });
    let samples = await scrape(app);
    expect(samples.get('parley_buffer_degraded')).toBe(1);
    expect(samples.get('parley_buffer_degraded_reason{reason="stale_intents"}')).toBe(1);
    expect(samples.get('parley_buffer_degraded_reason{reason="fallbacks"}')).toBe(0);

    // A worker holds it now and has not stored it (PostgreSQL down, say): still an old send.
    expect(await app.deps.buffer!.claim(0, 'health-test:stale', 1, 30_000)).toHaveLength(1);
    const held = await getJson(`${app.url}/health/buffer`);
    expect(held.body).toMatchObject({ status: 'degraded', depth: 1, inFlightIntents: 1 });
    expect(held.body.oldestInFlightAgeMillis).toBe(120_000);
    expect(held.body.oldestAgeMillis).toBe(0);
    samples = await scrape(app);
    expect(samples.get('parley_buffer_oldest_in_flight_age_seconds')).toBe(120);
    expect(samples.get('parley_buffer_degraded')).toBe(1);

    // Stored at last: ok again.
    await app.deps.buffer!.returnClaim(0, 'health-test:stale', false);
    const flusher = app.startFlusher();
    await app.drained();
    await flusher.stop();
    expect((await getJson(`${app.url}/health/buffer`)).body).toMatchObject({ status: 'ok' });
    expect((await scrape(app)).get('parley_buffer_degraded')).toBe(0);
  });

  it('counts what waits, its age and what workers hold, in the answer and in /metrics', async () => {
    // Ages 20 s apart, all below BUFFER_MAX_AGE_SECONDS (60).
    await push(1, 40_000);
    await push(1, 20_000);
    await push(1);
    // A worker claims the oldest.
    expect(await app.deps.buffer!.claim(0, 'health-test:1', 1, 30_000)).toHaveLength(1);

    const { status, body } = await getJson(`${app.url}/health/buffer`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', depth: 2, inFlightClaims: 1, inFlightIntents: 1, deadLetters: 0 });
    expect(body.oldestAgeMillis).toBe(20_000);

    const samples = await scrape(app);
    expect(samples.get('parley_buffer_depth')).toBe(2);
    expect(samples.get('parley_buffer_in_flight_intents')).toBe(1);
    expect(samples.get('parley_buffer_dead_letters')).toBe(0);
    expect(samples.get('parley_buffer_oldest_age_seconds')).toBe(20);
  });

  it('reads the buffer once per scrape, whatever the number of gauges', async () => {
    const stats = jest.spyOn(app.deps.buffer!, 'stats');
    try {
      const samples = await scrape(app);
      expect(BUFFER_SERIES.filter((name) => samples.has(name))).toEqual(BUFFER_SERIES);
      expect(stats).toHaveBeenCalledTimes(1);
      await scrape(app);
      expect(stats).toHaveBeenCalledTimes(2);
    } finally {
      stats.mockRestore();
    }
  });

  it('is degraded, still 200, from 90 % of BUFFER_MAX_DEPTH on, and counts the sends refused when full', async () => {
    await push(8);
    expect((await getJson(`${app.url}/health/buffer`)).body.status).toBe('ok');
    await push(1);
    const nearlyFull = await getJson(`${app.url}/health/buffer`);
    expect(nearlyFull.status).toBe(200);
    expect(nearlyFull.body).toMatchObject({
      status: 'degraded',
      depth: 9,
      reasons: [expect.stringMatching(/nearly full: 9 of at most 10/)],
    });

    await push(1);
    const before = nearlyFull.body.refusedFull;
    const refused = await app.gql(SEND_MESSAGE, { input: { botId: bot.id, text: 'one too many' } }, owner.token);
    expect(errorCode(refused)).toBe('OVERLOADED');
    const full = await getJson(`${app.url}/health/buffer`);
    expect(full.body).toMatchObject({ status: 'degraded', depth: 10, refusedFull: before + 1 });
    expect((await scrape(app)).get('parley_buffer_refused_total')).toBe(before + 1);
  });

  it('is degraded, still 200, while dead letters wait', async () => {
    const intent = makeIntent(bot.id, owner.userId);
    await app.deps.buffer!.push(intent);
    const [raw] = await app.deps.buffer!.claim(0, 'health-test:2', 1, 30_000);
    expect(await app.deps.buffer!.deadLetter(0, 'health-test:2', raw!, intent, 'boom', new Date())).toBe(true);

    const { status, body } = await getJson(`${app.url}/health/buffer`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'degraded',
      depth: 0,
      deadLetters: 1,
      reasons: [expect.stringMatching(/Dead letters wait for an operator: 1/)],
    });
    expect((await scrape(app)).get('parley_buffer_dead_letters')).toBe(1);
  });

  it('reports what the workers flushed: total, rate, lag and when', async () => {
    await push(3, 2_000);
    // Redis' clock, which stamps the flush: its second can only be this one or a later one.
    const [secondBeforeFlush] = await app.deps.clients.redis!.time();
    const flusher = app.startFlusher();
    await app.drained();
    await flusher.stop();

    // The rate counts whole seconds only: the flush shows in it once its second is over.
    const body = await eventually(async () => {
      const answer = (await getJson(`${app.url}/health/buffer`)).body;
      return answer.flushRate > 0 && answer;
    });
    expect(body).toMatchObject({ status: 'ok', depth: 0, inFlightIntents: 0 });
    expect(body.flushedTotal).toBeGreaterThanOrEqual(3);
    expect(body.lagMillis).toBeGreaterThanOrEqual(2_000);
    expect(Date.parse(body.lastFlushAt)).toBeGreaterThanOrEqual(Number(secondBeforeFlush) * 1000);

    const samples = await scrape(app);
    expect(samples.get('parley_buffer_flushed_total')).toBe(body.flushedTotal);
    expect(samples.get('parley_buffer_lag_seconds')).toBeGreaterThanOrEqual(2);
    expect(samples.get('parley_buffer_flush_rate')).toBeGreaterThan(0);
    expect(samples.get('parley_event_loop_delay_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('answers 503 with a generic error while Redis is down, /metrics leaves the buffer out, and both recover', async () => {
    const redis = app.deps.clients.redis!;
    redis.disconnect();
    try {
      const { status, body } = await getJson(`${app.url}/health/buffer`);
      expect(status).toBe(503);
      expect(body).toMatchObject({
        status: 'unavailable',
        enabled: true,
        depth: null,
        deadLetters: null,
        fallbacks: expect.any(Number),
        refusedFull: expect.any(Number),
        maxDepth: MAX_DEPTH,
        error: GENERIC_ERROR,
      });
      expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|6379|ECONNREFUSED|closed/i);

      // A send falls back to PostgreSQL, and both answers count it. (Through the write path: a
      // GraphQL send would first need its session, which lives in this Redis.)
      const { conversation, message, reply } = makeIntent(bot.id, owner.userId);
      expect(
        await app.deps.writePath.write({
          conversation,
          message: { ...message, role: 'USER' },
          reply: { ...reply, role: 'ASSISTANT', replyTo: message.id },
        }),
      ).toEqual({ kind: 'ACCEPTED', status: 'PERSISTED' });
      const samples = await scrape(app);
      expect(BUFFER_SERIES.filter((name) => samples.has(name))).toEqual([]);
      expect(samples.get('parley_buffer_fallbacks_total')).toBe(body.fallbacks + 1);
      expect(samples.has('parley_event_loop_delay_seconds')).toBe(true);
      expect((await getJson(`${app.url}/health/buffer`)).body.fallbacks).toBe(body.fallbacks + 1);
    } finally {
      await redis.connect();
    }
    const back = await eventually(async () => {
      const answer = await getJson(`${app.url}/health/buffer`);
      return answer.status === 200 && answer.body;
    });
    // Redis answers again, but a send fell back within the last minute: degraded, and why.
    expect(back).toMatchObject({
      status: 'degraded',
      depth: 0,
      lastFallbackAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      reasons: [expect.stringMatching(/^Sends fell back to PostgreSQL in the last 60 s/)],
    });
    const samples = await scrape(app);
    expect(samples.get('parley_buffer_depth')).toBe(0);
    expect(samples.get('parley_buffer_degraded')).toBe(1);
    expect(samples.get('parley_buffer_degraded_reason{reason="fallbacks"}')).toBe(1);
  });
});

describe('/health/buffer against a Redis that stops answering', () => {
  it('gives up within its time limit with 503', async () => {
    // Not timed: a busy machine is slow; only the route's limit can end the stuck commands.
    const stuck = await connectThroughStallingProxy();
    const fastify = Fastify();
    registerBufferHealthRoute(fastify, {
      buffer: createWriteBuffer({
        redis: stuck.redis,
        keys: createCacheKeys(stuck.settings.keyPrefix),
        shards: createBufferShards(1),
        maxDepth: 10,
      }),
      limits: { maxDepth: 10, maxAgeSeconds: 60 },
      log: silent,
      timeoutMillis: 300,
    });
    try {
      const url = await fastify.listen({ host: '127.0.0.1', port: 0 });
      expect((await getJson(`${url}/health/buffer`)).status).toBe(200);
      stuck.stall();
      const { status, body } = await getJson(`${url}/health/buffer`);
      expect(status).toBe(503);
      expect(body).toMatchObject({ status: 'unavailable', error: GENERIC_ERROR });
    } finally {
      await fastify.close();
      await stuck.close();
    }
  });
});

describe('/health/buffer and /metrics in rollback mode', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'false' });
  });
  afterAll(() => app.close());

  it('says the buffer is off, with 200', async () => {
    const { status, body } = await getJson(`${app.url}/health/buffer`);
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'disabled', enabled: false });
  });

  it('serves no buffer series, and still the event loop delay', async () => {
    const samples = await scrape(app);
    expect([...samples.keys()].filter((name) => name.startsWith('parley_buffer_'))).toEqual([]);
    expect(samples.get('parley_event_loop_delay_seconds')).toBeGreaterThanOrEqual(0);
  });
});

describe('checkBufferDurability against real Redis servers', () => {
  afterAll(() => stopRedisServers());

  const redisSettings = (url: string) => loadConfig({ REDIS_ENABLED: 'true', REDIS_URL: url }).redis;

  /** A logger whose lines the test reads. */
  function capturingLogger() {
    const lines: { level: number; msg: string; setting?: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    );
    return { log, lines };
  }

  it('reads the settings and warns, one line each, about a Redis without AOF that may evict', async () => {
    const server = await startRedisServer({ appendonly: false });
    const redis = createRedis(redisSettings(server.url), silent);
    try {
      await redis.connect();
      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const { log, lines } = capturingLogger();
      const result = await checkBufferDurability(redis, log);
      expect(result).toEqual({
        maxmemoryPolicy: 'allkeys-lru',
        appendonly: 'no',
        appendfsync: 'everysec',
        problems: [expect.stringMatching(/allkeys-lru/), expect.stringMatching(/appendonly is no/)],
      });
      expect(lines.map((line) => [line.level, line.setting])).toEqual([
        [40, 'maxmemory-policy'],
        [40, 'appendonly'],
      ]);
    } finally {
      await closeRedis(redis);
    }
  });

  it('finds nothing to warn about with noeviction and AOF, and says what everysec can lose', async () => {
    const server = await startRedisServer({ appendonly: true });
    const redis = createRedis(redisSettings(server.url), silent);
    try {
      await redis.connect();
      const { log, lines } = capturingLogger();
      const result = await checkBufferDurability(redis, log);
      expect(result).toEqual({
        maxmemoryPolicy: 'noeviction',
        appendonly: 'yes',
        appendfsync: 'everysec',
        problems: [],
      });
      expect(lines).toEqual([expect.objectContaining({ level: 30, setting: 'appendfsync' })]);
      expect(lines[0]!.msg).toMatch(/about a second/);
    } finally {
      await closeRedis(redis);
    }
  });

  it('warns that durability is unverified when CONFIG is refused, as on managed Redis', async () => {
    const server = await startRedisServer();
    const admin = createRedis(redisSettings(server.url), silent);
    const limited = createRedis(redisSettings(`redis://limited:secret@127.0.0.1:${server.port}`), silent);
    try {
      await admin.connect();
      // This server is the test's own: an ACL user without CONFIG, as managed services hand out.
      await admin.acl('SETUSER', 'limited', 'on', '>secret', '~*', '&*', '+@all', '-config');
      await limited.connect();
      const { log, lines } = capturingLogger();
      const result = await checkBufferDurability(limited, log);
      expect(result).toEqual({
        maxmemoryPolicy: null,
        appendonly: null,
        appendfsync: null,
        problems: [expect.stringMatching(/unverified/)],
      });
      expect(lines).toEqual([expect.objectContaining({ level: 40, setting: 'config' })]);
    } finally {
      await closeRedis(limited);
      await closeRedis(admin);
    }
  });
});

describe('/health/buffer and /metrics of a buffer in shards', () => {
  it("reports every shard, refuses sends beyond a shard's share of BUFFER_MAX_DEPTH, and names the shard nearly full", async () => {
    const app = await startTestApp(
      // 32 intents in 16 shards: 2 each.
      { REDIS_ENABLED: 'true', BUFFER_SHARDS: '16', BUFFER_MAX_DEPTH: '32' },
      { flusher: false },
    );
    try {
      const owner = await signUpOwner(app, 'health-shards');
      const bot = await createBot(app, owner.token, 'Health shards');
      const shards = createBufferShards(16);
      const full = testConversationId(shards);
      let other: string;
      do other = testConversationId(shards);
      while (shards.ofId(other) === shards.ofId(full));
      const push = (conversationId: string) =>
        app.deps.buffer!.push(
          testIntent({ botId: bot.id, senderId: owner.userId, question: 'q', answer: 'a', conversationId, shards }),
        );
      expect((await push(full)).kind).toBe('QUEUED');
      expect((await push(full)).kind).toBe('QUEUED');
      expect((await push(full)).kind).toBe('FULL');
      // The other shards still take sends.
      expect((await push(other)).kind).toBe('QUEUED');

      const shard = shards.ofId(full);
      const { status, body } = await getJson(`${app.url}/health/buffer`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        status: 'degraded',
        depth: 3,
        reasons: [
          `The buffer is nearly full: 3 of at most 32 intents wait, 2 in shard ${shard}; its sends are refused at 2.`,
        ],
      });
      expect(body.shards).toHaveLength(16);
      expect(body.shards[shard]).toMatchObject({ shard, depth: 2 });
      expect(body.shards[shards.ofId(other)]).toMatchObject({ depth: 1 });

      const samples = await scrape(app);
      expect(samples.get(`parley_buffer_shard_depth{shard="${shard}"}`)).toBe(2);
      expect(samples.get('parley_buffer_depth')).toBe(3);
      expect(samples.get('parley_buffer_degraded_reason{reason="nearly_full"}')).toBe(1);
    } finally {
      await app.close();
    }
  });
});
