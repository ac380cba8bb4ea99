import { redisWarnings, type NodeHealth, type RedisHealth } from '../../src/http/health-redis';

/** A connected Redis with AOF on (`appendfsync always`): nothing to say about durability. */
function redis(fields: Partial<RedisHealth> = {}): RedisHealth {
  return {
    status: 'ok',
    enabled: true,
    mode: 'single',
    connected: true,
    connection: 'ready',
    pingMillis: 0.2,
    usedMemoryBytes: 1_000_000,
    maxmemoryBytes: 0,
    maxmemoryPolicy: 'noeviction',
    aofEnabled: true,
    appendfsync: 'always',
    connectedClients: 3,
    ...fields,
  };
}

/** A cluster of `masters` masters and `replicas` replicas, each node as `redis()` unless `nodes` says otherwise. */
function cluster(masters: number, replicas: number, nodes: Partial<NodeHealth>[] = []): RedisHealth {
  const { mode: _mode, enabled: _enabled, ...node } = redis();
  return redis({
    mode: 'cluster',
    cluster: { state: 'ok', slotsAssigned: 16384, slotsOk: 16384, knownNodes: masters + replicas, masters, replicas },
    nodes: Array.from({ length: masters + replicas }, (_, i) => ({
      ...node,
      address: `127.0.0.1:${7001 + i}`,
      role: i < masters ? ('master' as const) : ('replica' as const),
      ...nodes[i],
    })),
  });
}

describe('/health/redis warnings', () => {
  it('says of a cluster what puts its buffer at risk, node by node', () => {
    expect(redisWarnings({ durable: cluster(3, 3), shared: true }).slice(0, -1)).toEqual([]);
    const risky = cluster(3, 2, [{}, { appendfsync: 'no' }, {}, { connected: false }]);
    expect(
      redisWarnings({ durable: { ...risky, cluster: { ...risky.cluster!, state: 'fail' } }, shared: true }),
    ).toEqual([
      "The cluster's state is fail: sends and reads on its failed slots fail.",
      '3 masters and 2 replicas: a master without a replica cannot fail over, and its part of the write buffer waits for it to come back.',
      expect.stringMatching(/^Node 127\.0\.0\.1:7002: appendfsync is no: /),
      'Node 127.0.0.1:7004 (replica) does not answer.',
      expect.stringMatching(/^The cache shares the durable Redis/),
    ]);
  });

  it('says when the cache shares the durable Redis, naming its policy and the way out', () => {
    expect(redisWarnings({ durable: redis(), shared: true })).toEqual([
      'The cache shares the durable Redis (noeviction): cached entities and search results take memory the write ' +
        'buffer and sessions need. Set REDIS_CACHE_URL to a Redis with maxmemory and maxmemory-policy allkeys-lru.',
    ]);
  });

  it('has nothing to say of a durable Redis with AOF and a cache Redis with maxmemory and allkeys-lru', () => {
    const cache = redis({ maxmemoryBytes: 64 * 1024 * 1024, maxmemoryPolicy: 'allkeys-lru', aofEnabled: false });
    expect(redisWarnings({ durable: redis(), cache, shared: false })).toEqual([]);
    // volatile-lru evicts least recently used keys too (every cache value has a TTL).
    expect(
      redisWarnings({ durable: redis(), cache: { ...cache, maxmemoryPolicy: 'volatile-lru' }, shared: false }),
    ).toEqual([]);
  });

  it('warns of a cache Redis without maxmemory, or one that cannot evict', () => {
    const warnings = redisWarnings({ durable: redis(), cache: redis({ aofEnabled: false }), shared: false });
    expect(warnings).toEqual([
      expect.stringMatching(/^The cache's Redis has no maxmemory/),
      expect.stringMatching(/^The cache's Redis runs maxmemory-policy noeviction: .* Set allkeys-lru\.$/),
    ]);
  });

  it('warns of eviction policies that may evict keys just written', () => {
    for (const policy of ['allkeys-random', 'volatile-random', 'allkeys-lfu', 'volatile-lfu']) {
      const cache = redis({ maxmemoryBytes: 1024 * 1024, maxmemoryPolicy: policy });
      expect(redisWarnings({ durable: redis(), cache, shared: false })).toEqual([
        expect.stringContaining(`maxmemory-policy ${policy}, which may evict keys just written`),
      ]);
    }
  });

  it('says when the cache Redis does not answer', () => {
    const cache = redis({ status: 'unavailable', connected: false, maxmemoryPolicy: null, maxmemoryBytes: null });
    expect(redisWarnings({ durable: redis(), cache, shared: false })).toEqual([
      "The cache's Redis (REDIS_CACHE_URL) does not answer: reads and searches go to PostgreSQL.",
    ]);
  });

  it('passes on what puts the write buffer at risk', () => {
    const warnings = redisWarnings({
      durable: redis({ maxmemoryPolicy: 'allkeys-lru', aofEnabled: false }),
      cache: redis({ maxmemoryBytes: 1024, maxmemoryPolicy: 'allkeys-lru' }),
      shared: false,
    });
    expect(warnings).toEqual([
      expect.stringMatching(/^maxmemory-policy is allkeys-lru, not noeviction/),
      expect.stringMatching(/^appendonly is no/),
    ]);
  });
});
