import {
  AppError,
  BadRequestError,
  ErrorCode,
  HTTP_STATUS,
  NotFoundError,
  OverloadedError,
  RateLimitedError,
  retryAfterSeconds,
} from '../../src/core/errors';

describe('errors and their HTTP heads', () => {
  it('gives every code one status', () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual(Object.values(ErrorCode).sort());
    expect(new NotFoundError('Bot', 'x').http).toEqual({ status: 404, headers: {} });
    expect(new BadRequestError('Too large', 413).http.status).toBe(413);
  });

  it('puts a rate limit’s head on the whole response: 429 with Retry-After', () => {
    const error = new RateLimitedError(7);
    expect(error.http).toEqual({ status: 429, headers: { 'retry-after': '7' } });
    expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 7 });
    // Apollo reads extensions.http (status, and headers as a Map) to set the response's head.
    const http = error.extensions.http as { status: number; headers: Map<string, string> };
    expect(http.status).toBe(429);
    expect([...http.headers]).toEqual([['retry-after', '7']]);
  });

  it('says when an overloaded service can be tried again, and keeps the cause for the log only', () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.5:6379');
    const error = new OverloadedError(5, 'Sign-in is unavailable for a moment.', { cause });
    expect(error.http).toEqual({ status: 503, headers: { 'retry-after': '5' } });
    expect(error.cause).toBe(cause);
    expect(JSON.stringify(error.toJSON())).not.toContain('10.0.0.5');
  });

  it('leaves per-field errors out of the response status', () => {
    expect(new AppError(ErrorCode.FORBIDDEN, 'Not yours.').extensions.http).toBeUndefined();
  });

  it.each([
    [0, 1],
    [1, 1],
    [999, 1],
    [1000, 1],
    [1001, 2],
    [59_500, 60],
  ])('rounds %i ms up to %i whole seconds for Retry-After', (millis, seconds) => {
    expect(retryAfterSeconds(millis)).toBe(seconds);
  });
});
