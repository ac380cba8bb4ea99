import type { RedisClient } from '../../src/platform/redis/connection';
import { keysMatching } from '../helpers/redis';
import {
  createBot,
  errorCode,
  signUpOwner,
  startTestApp,
  type GraphQLResponse,
  type TestApp,
} from '../helpers/test-app';

/**
 * Limits that a stranger cannot spend for others, and arguments that never become keys
 * unbounded (issue 15, rows 2, 3, 4 and 10). The api trusts 127.0.0.1 as a proxy, so each
 * request says whom it is from in X-Forwarded-For, as a load balancer would write it.
 */
const LIMITS = {
  REDIS_ENABLED: 'true',
  RATE_LIMIT_ENABLED: 'true',
  TRUSTED_PROXIES: '127.0.0.1',
};

function gqlFrom(
  app: TestApp,
  address: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
) {
  return fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': address,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  }).then(async (response) => {
    const body = (await response.json()) as Omit<GraphQLResponse, 'status' | 'headers'>;
    return { status: response.status, headers: response.headers, ...body } as GraphQLResponse;
  });
}

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { token } }`;
const LOG_IN = `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }`;
const WIDGET = `mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`;

const invalidSignUp = (app: TestApp, address: string, i: number) =>
  gqlFrom(app, address, SIGN_UP, { input: { email: `not-an-address-${i}`, password: 'x', name: 'x' } });

const keysUnder = (redis: RedisClient, prefix: string) => keysMatching(redis, `${prefix}*`);

describe('limits that a stranger cannot spend for others', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      ...LIMITS,
      RATE_LIMIT_GLOBAL_PER_MIN: '50',
      RATE_LIMIT_IP_PER_MIN: '20',
      RATE_LIMIT_USER_PER_MIN: '100',
      RATE_LIMIT_LOGIN_PER_MIN: '20',
    });
  });
  afterAll(() => app.close());

  it('does not count invalid sign-ups on the shared counter, nor one field on another', async () => {
    // 20 invalid sign-ups from each of three addresses: 60 requests, each address within its 20.
    const answers = await Promise.all(
      ['198.51.100.1', '198.51.100.2', '198.51.100.3'].flatMap((address) =>
        Array.from({ length: 20 }, (_, i) => invalidSignUp(app, address, i)),
      ),
    );
    expect(answers.map(errorCode)).toEqual(Array(60).fill('BAD_USER_INPUT'));
    // Their sender's own counter kept them: a 21st from one of them is refused.
    expect(errorCode(await invalidSignUp(app, '198.51.100.1', 21))).toBe('RATE_LIMITED');
    // A fourth address signs up, and a widget visitor there chats: the global counters have room.
    const signedUp = await gqlFrom(app, '198.51.100.4', SIGN_UP, {
      input: { email: `fourth-${process.pid}@example.com`, password: 'correct horse battery', name: 'Fourth' },
    });
    expect(signedUp.errors).toBeUndefined();
    const bot = await createBot(app, signedUp.data!.signUp.token as string);
    const widget = await gqlFrom(app, '198.51.100.5', WIDGET, { k: bot.publicKey });
    expect(widget.errors).toBeUndefined();
  });

  it('counts an IPv6 client by its /64: another address of the same /64 shares its counter', async () => {
    const owner = await signUpOwner(app, 'ipv6');
    const bot = await createBot(app, owner.token);
    const fromPrefix = (i: number) => `2001:db8:aa:bb:${(i + 1).toString(16)}::1`;
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push(await gqlFrom(app, fromPrefix(i), WIDGET, { k: bot.publicKey }));
    expect(answers.slice(0, 20).map(errorCode)).toEqual(Array(20).fill(undefined));
    expect(errorCode(answers[20]!)).toBe('RATE_LIMITED');
    expect(answers[20]!.headers.get('ratelimit')).toMatch(/"ip";r=0/);
    // Another /64 is another client; an IPv4-mapped address is its IPv4 address (this one
    // sent 21 sign-ups above, over its limit of 20).
    expect(errorCode(await gqlFrom(app, '2001:db8:aa:cc::1', WIDGET, { k: bot.publicKey }))).toBeUndefined();
    expect(errorCode(await gqlFrom(app, '::ffff:198.51.100.1', WIDGET, { k: bot.publicKey }))).toBe('RATE_LIMITED');
  });
});

describe('password guessing', () => {
  it("cannot lock an owner out by guessing the owner's password from elsewhere", async () => {
    // The e-mail counter at the user limit (3) as once, and password attempts per address (4).
    const app = await startTestApp({ ...LIMITS, RATE_LIMIT_USER_PER_MIN: '3', RATE_LIMIT_LOGIN_PER_MIN: '4' });
    try {
      const owner = await signUpOwner(app, 'guessed');
      const guesses = [];
      for (let i = 0; i < 6; i++) {
        guesses.push(await gqlFrom(app, '203.0.113.9', LOG_IN, { e: owner.email, p: `wrong ${i}` }));
      }
      // The guesser is held to its own counters: 3 guesses at this e-mail from there...
      expect(guesses.map(errorCode)).toEqual([...Array(3).fill('UNAUTHENTICATED'), ...Array(3).fill('RATE_LIMITED')]);
      expect(guesses[3]!.headers.get('ratelimit')).toMatch(/"email";r=0/);
      // ...and 4 password attempts from there, whatever the e-mail.
      const other = await gqlFrom(app, '203.0.113.9', LOG_IN, { e: 'someone-else@example.com', p: 'wrong' });
      expect(errorCode(other)).toBe('UNAUTHENTICATED');
      const fifth = await gqlFrom(app, '203.0.113.9', LOG_IN, { e: 'someone-else@example.com', p: 'wrong' });
      expect(errorCode(fifth)).toBe('RATE_LIMITED');
      expect(fifth.headers.get('ratelimit')).toMatch(/"login";r=0/);
      // The owner, from their own address, logs in.
      const own = await gqlFrom(app, '203.0.113.77', LOG_IN, { e: owner.email, p: 'correct horse battery' });
      expect(own.errors).toBeUndefined();
      expect(own.data!.logIn.token).toEqual(expect.any(String));
    } finally {
      await app.close();
    }
  });
});

describe('arguments that become keys', () => {
  it('keeps rate-limit keys short whatever the arguments and forwarded addresses are (Redis)', async () => {
    const app = await startTestApp({ ...LIMITS, RATE_LIMIT_IP_PER_MIN: '1000' });
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          gqlFrom(app, `${'x'.repeat(4000)}${i}`, WIDGET, { k: `${i}${'k'.repeat(200_000)}` }),
        ),
      );
      expect(answers.map(errorCode)).toEqual(Array(10).fill('BAD_USER_INPUT'));
      const keys = await keysUnder(app.deps.clients.redis!, `${app.config.redis.keyPrefix}rate-limit:`);
      expect(keys.length).toBeGreaterThan(0);
      expect(Math.max(...keys.map((key) => key.length))).toBeLessThan(200);
    } finally {
      await app.close();
    }
  });

  it('keeps the in-memory counters small in rollback mode, and nothing for refused requests', async () => {
    const app = await startTestApp({ ...LIMITS, REDIS_ENABLED: 'false', RATE_LIMIT_IP_PER_MIN: '1' });
    try {
      const answers = [];
      for (let i = 0; i < 20; i++) {
        answers.push(await gqlFrom(app, '192.0.2.10', WIDGET, { k: `${i}${'k'.repeat(200_000)}` }));
      }
      expect(answers.map(errorCode)).toEqual(['BAD_USER_INPUT', ...Array(19).fill('RATE_LIMITED')]);
      const { keys, bytes } = app.deps.rateLimiter.memoryUsage();
      // The IP counter of the one admitted request (its GLOBAL and BOT were taken back: invalid).
      expect(keys).toBeLessThanOrEqual(3);
      expect(bytes).toBeLessThan(4096);
    } finally {
      await app.close();
    }
  });
});
