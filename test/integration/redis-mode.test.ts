import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { StartupError } from '../../src/core/errors';
import { closeRedis, connectRedis, createRedis, isCluster } from '../../src/platform/redis/connection';
import { startRedisServer, stopRedisServers, type TestRedisServer } from '../helpers/redis-server';

const silent = createLogger({ name: 'test', level: 'silent', pretty: false });

/** Connects with the settings `env` gives; resolves to the start-up error's message, or 'connected'. */
async function connectWith(env: Record<string, string>): Promise<string> {
  const settings = loadConfig({ REDIS_ENABLED: 'true', REDIS_CONNECT_TIMEOUT_MILLIS: '2000', ...env }).redis;
  const redis = createRedis(settings, silent);
  try {
    await connectRedis(redis, settings);
    return `connected${isCluster(redis) ? ' (cluster)' : ''}`;
  } catch (error: unknown) {
    expect(error).toBeInstanceOf(StartupError);
    return (error as Error).message;
  } finally {
    await closeRedis(redis);
  }
}

describe('a Redis that is not what the settings say', () => {
  let lone: TestRedisServer;
  let clusterNode: TestRedisServer;
  beforeAll(async () => {
    lone = await startRedisServer();
    // A node with cluster support on: whatever its slots, one-node clients get MOVED from it.
    clusterNode = await startRedisServer({ args: ['--cluster-enabled', 'yes'] });
  });
  afterAll(() => stopRedisServers());

  it('refuses one-Redis mode (REDIS_URL) against a cluster node, naming the setting to use', async () => {
    expect(await connectWith({ REDIS_URL: clusterNode.url })).toBe(
      `Redis at 127.0.0.1:${clusterNode.port} is a Redis Cluster node: set REDIS_CLUSTER_NODES to the cluster's nodes (host:port,…) instead of REDIS_URL`,
    );
  });

  it('refuses cluster mode (REDIS_CLUSTER_NODES) against a lone Redis that answers, saying it is not a cluster', async () => {
    expect(await connectWith({ REDIS_CLUSTER_NODES: `127.0.0.1:${lone.port}` })).toMatch(
      new RegExp(
        `^Redis Cluster at 127\\.0\\.0\\.1:${lone.port} answers but is not a cluster .*unset REDIS_CLUSTER_NODES`,
      ),
    );
  });

  it('says a cluster that does not answer is down, not that it is no cluster', async () => {
    const gone = await startRedisServer();
    await gone.stop();
    expect(await connectWith({ REDIS_CLUSTER_NODES: `127.0.0.1:${gone.port}` })).toMatch(
      new RegExp(`^Redis Cluster at 127\\.0\\.0\\.1:${gone.port} did not answer .*REDIS_ENABLED=false`),
    );
  });

  it('connects one-Redis mode to a lone Redis', async () => {
    expect(await connectWith({ REDIS_URL: lone.url })).toBe('connected');
  });
});
