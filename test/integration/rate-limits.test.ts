import { keysMatching } from '../helpers/redis';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { createRedisWindow } from '../../src/rate-limits/redis-window';
import { connectTestRedis } from '../helpers/redis';
import { startRedisServer, stopRedisServers } from '../helpers/redis-server';
import {
  createBot,
  errorCode,
  eventually,
  signUpOwner,
  startTestApp,
  type GraphQLResponse,
  type TestApp,
  wsClient,
} from '../helpers/test-app';

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { conversationId message { id } } }`;
const LIMITS_ON = { REDIS_ENABLED: 'true', RATE_LIMIT_ENABLED: 'true' };
const pause = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

const send = (app: TestApp, token: string, botId: string, text = 'Hello') =>
  app.gql(SEND, { input: { botId, text } }, token);

const codes = (responses: GraphQLResponse[]) =>
  responses.reduce<Record<number, number>>(
    (counts, { status }) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }),
    {},
  );

/** A 429 as the issue describes it: RATE_LIMITED, Retry-After in whole seconds, the IETF headers. */
function expectRefused(response: GraphQLResponse, policy: string): number {
  expect(response.status).toBe(429);
  expect(errorCode(response)).toBe('RATE_LIMITED');
  const retryAfter = response.headers.get('retry-after');
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  expect(response.errors![0]!.extensions!.retryAfter).toBe(Number(retryAfter));
  expect(response.headers.get('ratelimit-policy')).toContain(`"${policy}";q=`);
  expect(response.headers.get('ratelimit')).toMatch(new RegExp(`"${policy}";r=0;t=\\d+`));
  return Number(retryAfter);
}

describe('rate limits (Redis)', () => {
  describe('with the default limits', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp(LIMITS_ON);
    });
    afterAll(() => app.close());

    it('admits exactly 100 of 300 concurrent sends by one user and answers the rest 429, storing only those', async () => {
      const owner = await signUpOwner(app, 'burst');
      const bot = await createBot(app, owner.token);
      const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => send(app, owner.token, bot.id, `m${i}`)));
      expect(codes(answers)).toEqual({ 200: 100, 429: 200 });
      for (const refused of answers.filter((answer) => answer.status === 429)) expectRefused(refused, 'user');
      // The refused sends did not run: only the admitted ones reach the database.
      await app.drained();
      expect(await app.deps.db('messages').where({ bot_id: bot.id })).toHaveLength(200);
      // The admitted ones say how much is left.
      const admitted = answers.find((answer) => answer.status === 200)!;
      expect(admitted.headers.get('ratelimit-policy')).toBe(
        '"global";q=1000;w=60, "user";q=100;w=60, "ip";q=200;w=60, "bot";q=500;w=60',
      );
    });

    it('never limits health and metrics, even from an address that is over its limits', async () => {
      for (let i = 0; i < 3; i++) {
        for (const path of ['/health', '/health/db', '/health/redis', '/health/buffer', '/health/cache', '/metrics']) {
          const response = await fetch(`${app.url}${path}`);
          expect({ path, status: response.status }).toEqual({ path, status: 200 });
        }
      }
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(metrics).toMatch(/parley_rate_limit_decisions_total\{policy="USER",outcome="rejected"\} 200/);
      expect(metrics).toMatch(/parley_rate_limit_decisions_total\{policy="USER",outcome="allowed"\} 100/);
    });
  });

  describe('turned off (RATE_LIMIT_ENABLED=false)', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({ REDIS_ENABLED: 'true', RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_USER_PER_MIN: '2' });
    });
    afterAll(() => app.close());

    it('admits every send, counts nothing in Redis and sends no RateLimit headers', async () => {
      const owner = await signUpOwner(app, 'unlimited');
      const bot = await createBot(app, owner.token);
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => send(app, owner.token, bot.id, `m${i}`)));
      expect(codes(answers)).toEqual({ 200: 10 });
      for (const answer of answers) {
        expect(answer.headers.get('ratelimit')).toBeNull();
        expect(answer.headers.get('ratelimit-policy')).toBeNull();
      }
      const redis = app.deps.clients.redis!;
      expect(await keysMatching(redis, `${app.config.redis.keyPrefix}rate-limit:*`)).toEqual([]);
    });
  });

  describe('with small limits', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({
        ...LIMITS_ON,
        RATE_LIMIT_USER_PER_MIN: '5',
        RATE_LIMIT_IP_PER_MIN: '1000',
      });
    });
    afterAll(() => app.close());

    it('counts every alias: of ten sends in one operation five run and show, the other five are refused with 429', async () => {
      const owner = await signUpOwner(app, 'aliases');
      const bot = await createBot(app, owner.token);
      const aliases = Array.from(
        { length: 10 },
        (_, i) => `a${i}: sendMessage(input: { botId: $b, text: "x${i}" }) { message { id } }`,
      );
      const response = await app.gql(`mutation($b: ID!) { ${aliases.join(' ')} }`, { b: bot.id }, owner.token);
      expect(response.status).toBe(429);
      // Mutation fields run in order: a0 to a4 ran and used the account's five; a5 to a9 were
      // refused and did not run. The payload being nullable, what ran stays in the answer.
      expect(Object.entries(response.data!).map(([alias, value]) => [alias, value !== null])).toEqual(
        aliases.map((_, i) => [`a${i}`, i < 5]),
      );
      expect(response.errors!.map((error) => [error.path![0], error.extensions!.code])).toEqual(
        ['a5', 'a6', 'a7', 'a8', 'a9'].map((alias) => [alias, 'RATE_LIMITED']),
      );
      expectRefused(await send(app, owner.token, bot.id), 'user');
      await app.drained();
      const stored = await app.deps.db('messages').where({ bot_id: bot.id, role: 'USER' }).orderBy('created_at');
      expect(stored.map((row: { content: string }) => row.content)).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
    });

    it('exempts ENTERPRISE accounts from the user and address limits, by the plan in their session', async () => {
      const free = await signUpOwner(app, 'free');
      const rich = await signUpOwner(app, 'enterprise');
      await app.deps.db('users').where({ id: rich.userId }).update({ plan: 'ENTERPRISE' });
      const login = await app.gql(
        `mutation($e: String!) { logIn(email: $e, password: "correct horse battery") { token } }`,
        {
          e: rich.email,
        },
      );
      const richToken = login.data!.logIn.token as string;
      const [freeBot, richBot] = [await createBot(app, free.token), await createBot(app, richToken)];
      const freeAnswers = [];
      const richAnswers = [];
      for (let i = 0; i < 8; i++) {
        freeAnswers.push(await send(app, free.token, freeBot.id));
        richAnswers.push(await send(app, richToken, richBot.id));
      }
      expect(codes(freeAnswers)).toEqual({ 200: 5, 429: 3 });
      expect(codes(richAnswers)).toEqual({ 200: 8 });
    });

    it('limits logIn attempts per e-mail address, and uploads and subscribing like the fields', async () => {
      const owner = await signUpOwner(app, 'guessed');
      const attempts = [];
      for (let i = 0; i < 6; i++) {
        attempts.push(
          await app.gql(`mutation($e: String!) { logIn(email: $e, password: "wrong guess ${i}") { token } }`, {
            e: owner.email.toUpperCase(),
          }),
        );
      }
      expect(attempts.slice(0, 5).map(errorCode)).toEqual(Array(5).fill('UNAUTHENTICATED'));
      expectRefused(attempts[5]!, 'email');

      const bot = await createBot(app, owner.token);
      const opened = await send(app, owner.token, bot.id);
      expect(opened.status).toBe(200);
      const upload = () => {
        const form = new FormData();
        form.append('botId', bot.id);
        form.append('file', new Blob(['Open nine to five.'], { type: 'text/plain' }), 'hours.txt');
        return fetch(`${app.url}/uploads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${owner.token}` },
          body: form,
        });
      };
      // One send and four uploads fill the account's five; the fifth upload is refused.
      const uploads = [];
      for (let i = 0; i < 5; i++) uploads.push(await upload());
      expect(uploads.map((response) => response.status)).toEqual([201, 201, 201, 201, 429]);
      expect(uploads[4]!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(uploads[4]!.headers.get('ratelimit')).toMatch(/"user";r=0;t=\d+/);
      const body = (await uploads[4]!.json()) as { errors: { extensions: { code: string; retryAfter: number } }[] };
      expect(body.errors[0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });

      // Still within the window: subscribing counts against the same account and is refused.
      const client = wsClient(app, { authorization: `Bearer ${owner.token}` });
      try {
        const iterator = client.iterate({
          query: `subscription($c: ID!) { messageStatusChanged(conversationId: $c) { status } }`,
          variables: { c: opened.data!.sendMessage.conversationId },
        });
        const refused = await iterator.next().then(
          () => undefined,
          (errors: unknown) => errors as { extensions?: { code?: string } }[],
        );
        expect(refused?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      } finally {
        await client.dispose();
      }
    });
  });

  it('admits a retry made after Retry-After (a 2 s window)', async () => {
    const app = await startTestApp({ ...LIMITS_ON, RATE_LIMIT_USER_PER_MIN: '5', RATE_LIMIT_WINDOW_SECONDS: '2' });
    try {
      const owner = await signUpOwner(app, 'patient');
      const bot = await createBot(app, owner.token);
      for (let i = 0; i < 5; i++) expect((await send(app, owner.token, bot.id)).status).toBe(200);
      const retryAfter = expectRefused(await send(app, owner.token, bot.id), 'user');
      expect(retryAfter).toBeLessThanOrEqual(2);
      await pause(retryAfter * 1000);
      expect((await send(app, owner.token, bot.id)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('shares the user counter between api instances, and keeps the global one per instance', async () => {
    const env = {
      ...LIMITS_ON,
      RATE_LIMIT_USER_PER_MIN: '6',
      RATE_LIMIT_GLOBAL_PER_MIN: '10',
      RATE_LIMIT_IP_PER_MIN: '1000',
    };
    const a = await startTestApp(env);
    const b = await startTestApp({
      ...env,
      DATABASE_URL: a.config.database.url,
      REDIS_KEY_PREFIX: a.config.redis.keyPrefix,
    });
    try {
      const owner = await signUpOwner(a, 'shared');
      const bot = await createBot(a, owner.token);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await send(a, owner.token, bot.id), await send(b, owner.token, bot.id));
      // Six for the user across both instances, whichever answered.
      expect(codes(answers)).toEqual({ 200: 6, 429: 2 });

      // The global limit counts per field and instance: A fills its ten sends (three so far,
      // then two other users' sends; refused requests are taken back), while B keeps its own.
      const others = await Promise.all([signUpOwner(b, 'other-1'), signUpOwner(b, 'other-2')]);
      const otherBots = await Promise.all(others.map((other) => createBot(b, other.token)));
      const fromA = [];
      for (let i = 0; i < 10; i++) fromA.push(await send(a, others[i % 2]!.token, otherBots[i % 2]!.id));
      expect(codes(fromA)).toEqual({ 200: 7, 429: 3 });
      const refusedGlobal = fromA.find((answer) => answer.status === 429);
      expect(refusedGlobal).toBeDefined();
      expectRefused(refusedGlobal!, 'global');
      // B still has room of its own for the other user.
      expect((await send(b, others[1].token, (await createBot(b, others[1].token)).id)).status).toBe(200);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('shares the address and bot counters between api instances too', async () => {
    const widget = (app: TestApp, publicKey: string) =>
      app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, { k: publicKey });
    for (const [policy, env] of [
      ['ip', { RATE_LIMIT_IP_PER_MIN: '4' }],
      ['bot', { RATE_LIMIT_BOT_PER_MIN: '3', RATE_LIMIT_IP_PER_MIN: '1000' }],
    ] as const) {
      const a = await startTestApp({ ...LIMITS_ON, ...env });
      const b = await startTestApp({
        ...LIMITS_ON,
        ...env,
        DATABASE_URL: a.config.database.url,
        REDIS_KEY_PREFIX: a.config.redis.keyPrefix,
      });
      try {
        // The sign-up counts against the address as well: three widget sessions are left.
        const owner = await signUpOwner(a, policy);
        const bot = await createBot(a, owner.token);
        const answers = [];
        for (let i = 0; i < 2; i++) answers.push(await widget(a, bot.publicKey), await widget(b, bot.publicKey));
        expect(codes(answers)).toEqual({ 200: 3, 429: 1 });
        expectRefused(answers[3]!, policy);
      } finally {
        await b.close();
        await a.close();
      }
    }
  });

  it('admits no more than the limit in any window across a window edge (the Redis script, real time)', async () => {
    const probe = await connectTestRedis();
    try {
      const counter = createRedisWindow(probe.redis);
      /** Redis' clock, which the script reads, in milliseconds. */
      const redisNow = async () => {
        const [seconds, micros] = await probe.redis.time();
        return Number(seconds) * 1000 + Number(micros) / 1000;
      };
      // Each burst is timed by Redis' clock, before and after. A busy machine can delay a burst
      // past the edge it was meant to fall before: such a run proves nothing, and is made again
      // with a window twice as long.
      let conclusive = false;
      for (let windowMillis = 3000; !conclusive; windowMillis *= 2) {
        if (windowMillis > 12_000) throw new Error('no run had its bursts on the intended sides of the edge');
        const key = createCacheKeys(probe.settings.keyPrefix).rateLimit('user', `edge-${windowMillis}`);
        const burst = async (count: number, tag: string) => {
          const started = await redisNow();
          const results = await Promise.all(
            Array.from({ length: count }, (_, i) => counter.hit(key, 100, windowMillis, 1, `${tag}-${i}`)),
          );
          return { admitted: results.filter((result) => result.admitted).length, started, ended: await redisNow() };
        };
        const margin = windowMillis / 5;
        const a = await burst(50, 'a');
        expect(a.admitted).toBe(50);
        await pause(a.started + windowMillis - margin - (await redisNow()));
        const b = await burst(100, 'b');
        await pause(a.ended + windowMillis + margin - (await redisNow()));
        const c = await burst(100, 'c');
        // b ended before the first of a left; c began after the last of a left and ended before the first of b did.
        conclusive =
          b.ended < a.started + windowMillis &&
          c.started >= a.ended + windowMillis &&
          c.ended < b.started + windowMillis;
        if (conclusive) {
          // Just before the first burst leaves: room for 50 only.
          expect(b.admitted).toBe(50);
          // Just after: the first 50 have left, the second 50 have not.
          expect(c.admitted).toBe(50);
        }
      }
    } finally {
      await probe.drop();
    }
  }, 90_000);

  describe('without Redis', () => {
    afterAll(() => stopRedisServers());

    it('counts in memory per instance while Redis is down, and never answers 5xx for it', async () => {
      const server = await startRedisServer();
      const app = await startTestApp({ ...LIMITS_ON, REDIS_URL: server.url, RATE_LIMIT_USER_PER_MIN: '3' });
      try {
        const owner = await signUpOwner(app, 'outage');
        const bot = await createBot(app, owner.token);
        expect((await send(app, owner.token, bot.id)).status).toBe(200);
        await server.kill();
        // The session was confirmed a moment ago (outage grace); the counters start afresh in memory.
        const during = [];
        for (let i = 0; i < 5; i++) during.push(await send(app, owner.token, bot.id));
        expect(codes(during)).toEqual({ 200: 3, 429: 2 });
        const health = (await (await fetch(`${app.url}/health/redis`)).json()) as { rateLimits: { store: string } };
        expect(health.rateLimits.store).toBe('memory');
        await server.restart();
        await eventually(async () => {
          await send(app, owner.token, bot.id);
          const back = (await (await fetch(`${app.url}/health/redis`)).json()) as { rateLimits: { store: string } };
          return back.rateLimits.store === 'redis';
        }, 20_000);
      } finally {
        await app.close();
      }
    }, 60_000);

    it('limits in memory in rollback mode (REDIS_ENABLED=false)', async () => {
      const app = await startTestApp({
        REDIS_ENABLED: 'false',
        RATE_LIMIT_ENABLED: 'true',
        RATE_LIMIT_USER_PER_MIN: '2',
      });
      try {
        const owner = await signUpOwner(app, 'rollback');
        const bot = await createBot(app, owner.token);
        const answers = [];
        for (let i = 0; i < 4; i++) answers.push(await send(app, owner.token, bot.id));
        expect(codes(answers)).toEqual({ 200: 2, 429: 2 });
        expectRefused(answers[3]!, 'user');
        expect(await (await fetch(`${app.url}/health/redis`)).json()).toEqual({
          enabled: false,
          rateLimits: { store: 'memory' },
        });
      } finally {
        await app.close();
      }
    });
  });
});
