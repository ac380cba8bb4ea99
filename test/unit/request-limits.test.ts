import type { RateLimitSettings } from '../../src/config/config';
import { createRateLimiter } from '../../src/rate-limits/rate-limiter';
import { createRequestLimits, rateLimitHeaders } from '../../src/rate-limits/request-limits';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { createLogger } from '../../src/core/logger';
import { RateLimitedError } from '../../src/core/errors';
import type { Viewer } from '../../src/sessions/session-service';

const settings: RateLimitSettings = {
  enabled: true,
  windowSeconds: 60,
  limits: { GLOBAL: 1000, USER: 2, IP: 3, BOT: 500, LOGIN: 20 },
};
const log = createLogger({ name: 'test', level: 'silent', pretty: false });
const user = (plan: 'FREE' | 'ENTERPRISE'): Viewer =>
  ({ kind: 'USER', userId: 'u1', plan, tokenHash: 'h', expiresAt: new Date(Date.now() + 60_000) }) as Viewer;

describe('request limits (in memory, no Redis)', () => {
  const limiter = () => createRateLimiter({ keys: createCacheKeys('t:'), settings, log });

  it('names the counters a policy means for the viewer: enterprise accounts skip user and address', () => {
    const free = createRequestLimits({ limiter: limiter(), viewer: user('FREE'), clientIp: '192.0.2.7' });
    expect(
      free.subjects(['GLOBAL', 'USER', 'IP', 'BOT', 'EMAIL', 'LOGIN'], {
        field: 'Mutation.logIn',
        botKey: 'pk_1',
        email: ' A@Example.com ',
      }),
    ).toEqual([
      { policy: 'GLOBAL', id: 'Mutation.logIn' },
      { policy: 'USER', id: 'u1' },
      { policy: 'IP', id: '192.0.2.7' },
      { policy: 'BOT', id: 'pk_1' },
      { policy: 'EMAIL', id: expect.stringMatching(/^[0-9a-f]{64}$/) },
      { policy: 'LOGIN', id: '192.0.2.7' },
    ]);
    const enterprise = createRequestLimits({ limiter: limiter(), viewer: user('ENTERPRISE'), clientIp: '192.0.2.7' });
    expect(
      enterprise.subjects(['GLOBAL', 'USER', 'IP', 'BOT'], { field: 'f', botKey: 'pk_1' }).map((s) => s.policy),
    ).toEqual(['GLOBAL', 'BOT']);
    const anonymous = createRequestLimits({ limiter: limiter(), viewer: { kind: 'ANONYMOUS' }, clientIp: '::1' });
    expect(anonymous.subjects(['USER', 'IP'], { field: 'f' }).map((s) => s.policy)).toEqual(['IP']);
    // The same e-mail address however it is written; another client address is another counter.
    const [a, b] = [' A@Example.com', 'a@example.com'].map(
      (email) => anonymous.subjects(['EMAIL'], { field: 'f', email })[0]!.id,
    );
    expect(a).toBe(b);
    const elsewhere = createRequestLimits({ limiter: limiter(), viewer: { kind: 'ANONYMOUS' }, clientIp: '::2' });
    expect(elsewhere.subjects(['EMAIL'], { field: 'f', email: 'a@example.com' })[0]!.id).not.toBe(a);
  });

  it('bounds ids taken from arguments before they become keys', () => {
    const limits = createRequestLimits({ limiter: limiter(), viewer: { kind: 'ANONYMOUS' }, clientIp: '192.0.2.7' });
    const huge = 'k'.repeat(4 * 1024 * 1024);
    const [bot] = limits.subjects(['BOT'], { field: 'f', botKey: huge });
    expect(bot!.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Distinct long keys stay distinct counters.
    expect(limits.subjects(['BOT'], { field: 'f', botKey: `${huge}x` })[0]!.id).not.toBe(bot!.id);
    expect(limits.subjects(['BOT'], { field: 'f', botKey: 'pk_demo_coffee' })[0]!.id).toBe('pk_demo_coffee');
    expect(limits.subjects(['BOT'], { field: 'f', botKey: 'pk "quoted"' })[0]!.id).toMatch(/^sha256:/);
  });

  it('refuses with RATE_LIMITED, Retry-After and RateLimit headers, without using up the other counters', async () => {
    const shared = limiter();
    const limits = createRequestLimits({ limiter: shared, viewer: user('FREE'), clientIp: '192.0.2.7' });
    await limits.check(['USER', 'IP'], { field: 'f' });
    await limits.check(['USER', 'IP'], { field: 'f' });
    const refused = await limits.check(['IP', 'USER'], { field: 'f' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RateLimitedError);
    const error = refused as RateLimitedError;
    expect(error.http.status).toBe(429);
    expect(error.http.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(error.http.headers.ratelimit).toBe('"ip";r=1;t=60, "user";r=0;t=60');
    // The refused request's IP admission was taken back: one more fits for another user there.
    const other = createRequestLimits({
      limiter: shared,
      viewer: { ...user('FREE'), userId: 'u2' } as Viewer,
      clientIp: '192.0.2.7',
    });
    await expect(other.check(['IP'], { field: 'f' })).resolves.toBeUndefined();
    await expect(other.check(['IP'], { field: 'f' })).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('counts GLOBAL per field, so that one field flooded leaves the others their room', async () => {
    const shared = createRateLimiter({
      keys: createCacheKeys('t:'),
      settings: { ...settings, limits: { ...settings.limits, GLOBAL: 2 } },
      log,
    });
    const limits = createRequestLimits({ limiter: shared, viewer: { kind: 'ANONYMOUS' }, clientIp: '192.0.2.7' });
    await limits.check(['GLOBAL'], { field: 'Mutation.signUp' });
    await limits.check(['GLOBAL'], { field: 'Mutation.signUp' });
    await expect(limits.check(['GLOBAL'], { field: 'Mutation.signUp' })).rejects.toBeInstanceOf(RateLimitedError);
    await expect(limits.check(['GLOBAL'], { field: 'Mutation.sendMessage' })).resolves.toBeUndefined();
  });

  it("takes a refunded run back from the shared counters only, never from the sender's own", async () => {
    const shared = createRateLimiter({
      keys: createCacheKeys('t:'),
      settings: { ...settings, limits: { ...settings.limits, GLOBAL: 1, IP: 2 } },
      log,
    });
    const limits = createRequestLimits({ limiter: shared, viewer: { kind: 'ANONYMOUS' }, clientIp: '192.0.2.7' });
    const decision = await shared.check(limits.subjects(['GLOBAL', 'IP'], { field: 'f' }));
    limits.record(decision, 'signUp');
    await limits.refundShared('signUp');
    // GLOBAL (limit 1) has room again; IP kept the refunded run: one left of two.
    await limits.check(['GLOBAL', 'IP'], { field: 'f' });
    await expect(limits.check(['IP'], { field: 'f' })).rejects.toBeInstanceOf(RateLimitedError);
    // A path never recorded, or refunded already, takes nothing back.
    await limits.refundShared('signUp');
    await limits.refundShared('unknown');
    await expect(limits.check(['GLOBAL'], { field: 'f' })).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('lets everything through when disabled', async () => {
    const off = createRateLimiter({ keys: createCacheKeys('t:'), settings: { ...settings, enabled: false }, log });
    const limits = createRequestLimits({ limiter: off, viewer: user('FREE'), clientIp: '192.0.2.7' });
    for (let i = 0; i < 10; i++) await limits.check(['USER'], { field: 'f' });
    expect(limits.headers()).toEqual({});
  });

  it('formats the IETF headers', () => {
    expect(
      rateLimitHeaders([
        { policy: 'USER', limit: 100, windowSeconds: 60, remaining: 7, resetSeconds: 12 },
        { policy: 'BOT', limit: 500, windowSeconds: 60, remaining: 400, resetSeconds: 3 },
      ]),
    ).toEqual({
      'ratelimit-policy': '"user";q=100;w=60, "bot";q=500;w=60',
      ratelimit: '"user";r=7;t=12, "bot";r=400;t=3',
    });
  });
});
