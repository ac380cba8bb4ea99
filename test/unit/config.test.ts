import { ConfigError, loadConfig } from '../../src/config/config';

describe('loadConfig', () => {
  it('has working defaults for every setting', () => {
    const config = loadConfig({});
    expect(config.database.pool).toEqual({ max: 25, minIdle: 10, idleTimeoutMillis: 30_000, maxLifetimeSeconds: 3600 });
    expect(config.redis).toMatchObject({ url: 'redis://127.0.0.1:6379', db: 0, ttlSeconds: 3600 });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 4000, uploadMaxBytes: 10 * 1024 * 1024 });
    expect(config.sessions.ttlSeconds).toBe(86_400);
    expect(config.isProduction).toBe(false);
  });

  it('reads values from the environment and treats empty ones as unset', () => {
    const config = loadConfig({ PORT: '8080', REDIS_ENABLED: 'true', DATABASE_POOL_MAX: '', NODE_ENV: 'production' });
    expect(config.http.port).toBe(8080);
    expect(config.redis.enabled).toBe(true);
    expect(config.database.pool.max).toBe(25);
    expect(config.isProduction).toBe(true);
  });

  it('names every invalid variable in one error', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_ENABLED: 'maybe', DATABASE_URL: 'mysql://db/x', REDIS_DB: '16' });
    } catch (error: unknown) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const { problems, message } = caught as ConfigError;
    expect(problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['PORT', 'REDIS_ENABLED', 'DATABASE_URL', 'REDIS_DB']),
    );
    expect(problems).toHaveLength(4);
    expect(message).toContain('"eighty"');
  });

  it('refuses more idle connections than the pool may hold', () => {
    expect(() => loadConfig({ DATABASE_POOL_MAX: '5', DATABASE_POOL_MIN_IDLE: '10' })).toThrow(
      /DATABASE_POOL_MIN_IDLE/,
    );
  });
});
