import { testKeyPrefix } from '../helpers/redis';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1]!, pair[2]!]),
    );
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
}

async function scrape(app: TestApp): Promise<Sample[]> {
  const response = await fetch(`${app.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

describe('/metrics', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'true' });
  });
  // close() stops the stats flush before it deletes the app's keys.
  afterAll(() => app.close());

  it('times each request once: by method, route pattern and status, and GraphQL ones by operation type and outcome', async () => {
    const owner = await signUpOwner(app);
    await createBot(app, owner.token);
    expect((await app.gql('{ bots { id name } }', {}, owner.token)).status).toBe(200);
    expect((await app.gql('{ bots { id name } }', {}, owner.token)).status).toBe(200);
    // A query that resolves with an error, and a document that does not parse.
    const missing = await app.gql('query($id: ID!) { bot(id: $id) { id } }', { id: 'not-a-uuid' }, owner.token);
    expect(missing.errors).toBeDefined();
    expect((await app.gql('{ bots { id ')).status).toBe(400);
    // A GET with a query string, and a path no route matches.
    const get = await fetch(`${app.url}/graphql?query=${encodeURIComponent('{ me { id } }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(200);
    expect((await fetch(`${app.url}/no-such-route/12345`)).status).toBe(404);

    const samples = await scrape(app);
    const count = (labels: Record<string, string>) => sumOf(samples, 'http_request_duration_seconds_count', labels);
    const graphqlPost = { method: 'POST', route: '/graphql' };
    // signUp and createBot; the two bots queries; the bad bot id; the broken document.
    expect(count({ ...graphqlPost, status_code: '200', operation_type: 'mutation', outcome: 'ok' })).toBe(2);
    expect(count({ ...graphqlPost, status_code: '200', operation_type: 'query', outcome: 'ok' })).toBe(2);
    expect(count({ ...graphqlPost, status_code: '200', operation_type: 'query', outcome: 'error' })).toBe(1);
    expect(count({ ...graphqlPost, status_code: '400', operation_type: 'unknown', outcome: 'error' })).toBe(1);
    expect(
      count({ method: 'GET', route: '/graphql', status_code: '200', operation_type: 'query', outcome: 'ok' }),
    ).toBe(1);
    // Outside GraphQL a request has no operation labels.
    const notFound = samples.filter(
      (s) => s.name === 'http_request_duration_seconds_count' && s.labels.route === 'unmatched',
    );
    expect(notFound.map((s) => s.labels)).toEqual([{ method: 'GET', route: 'unmatched', status_code: '404' }]);
    expect(notFound[0]!.value).toBe(1);
    // One histogram: a GraphQL request is not timed a second time elsewhere.
    expect(samples.some((s) => s.name.startsWith('graphql_operation_duration'))).toBe(false);
    // Route patterns only: neither a query string nor an unknown path becomes a label.
    const routes = new Set(samples.filter((s) => s.name.startsWith('http_request')).map((s) => s.labels.route));
    expect([...routes].every((route) => route === 'unmatched' || /^\/[\w/]*$/.test(route!))).toBe(true);
    expect(routes.has('/no-such-route/12345')).toBe(false);
    const okQueries = { ...graphqlPost, status_code: '200', operation_type: 'query', outcome: 'ok' };
    expect(valueOf(samples, 'http_request_duration_seconds_bucket', { ...okQueries, le: '+Inf' })).toBe(
      count(okQueries),
    );
    expect(valueOf(samples, 'http_request_duration_seconds_sum', okQueries)).toBeGreaterThan(0);
  });

  it('shows the PostgreSQL pool and Node’s default metrics', async () => {
    const samples = await scrape(app);
    const total = valueOf(samples, 'parley_db_pool_connections')!;
    const idle = valueOf(samples, 'parley_db_pool_idle_connections')!;
    const inUse = valueOf(samples, 'parley_db_pool_in_use_connections')!;
    // The earlier requests opened at least one connection, and the pool keeps it for a while.
    expect(total).toBeGreaterThanOrEqual(1);
    expect(total).toBe(idle + inUse);
    expect(valueOf(samples, 'parley_db_pool_waiting_acquires')).toBe(0);
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('counts cache lookups per family, layer and result', async () => {
    const lookups = (samples: Sample[], labels: Record<string, string>) =>
      valueOf(samples, 'parley_cache_lookups_total', labels)!;
    const before = await scrape(app);
    app.deps.cacheStats.record('bot', 'redis', 3, 1);
    app.deps.cacheStats.record('bot', 'l1', 4, 0);
    const after = await scrape(app);
    const delta = (labels: Record<string, string>) => lookups(after, labels) - lookups(before, labels);
    expect(delta({ family: 'bot', layer: 'redis', result: 'hit' })).toBe(3);
    expect(delta({ family: 'bot', layer: 'redis', result: 'miss' })).toBe(1);
    expect(delta({ family: 'bot', layer: 'l1', result: 'hit' })).toBe(4);
    expect(delta({ family: 'bot', layer: 'l1', result: 'miss' })).toBe(0);
    // Every family, layer and result has a series, zeros included.
    expect(after.filter((sample) => sample.name === 'parley_cache_lookups_total')).toHaveLength(8 * 2 * 2);
  });
});

describe('/health/cache with two api instances on one prefix', () => {
  const prefix = testKeyPrefix();
  let first: TestApp;
  let second: TestApp;
  beforeAll(async () => {
    first = await startTestApp({ REDIS_ENABLED: 'true', REDIS_KEY_PREFIX: prefix });
    second = await startTestApp({ REDIS_ENABLED: 'true', REDIS_KEY_PREFIX: prefix });
  });
  afterAll(async () => {
    // Both flushers stop before either app deletes the shared prefix's keys.
    await Promise.all([first.deps.cacheStats.stop(), second.deps.cacheStats.stop()]);
    await first.close();
    await second.close();
  });

  const cacheReport = async (app: TestApp) => {
    const response = await fetch(`${app.url}/health/cache`);
    expect(response.status).toBe(200);
    return (await response.json()) as any;
  };

  it('sums the counts of both instances, flushed on their own', async () => {
    const [beforeFirst, beforeSecond] = await Promise.all([cacheReport(first), cacheReport(second)]);
    first.deps.cacheStats.record('source', 'redis', 3, 1);
    second.deps.cacheStats.record('source', 'redis', 2, 4);
    second.deps.cacheStats.record('session', 'l1', 5, 0);

    const added = (before: any, after: any, pick: (report: any) => any) => ({
      hits: pick(after).hits - pick(before).hits,
      misses: pick(after).misses - pick(before).misses,
    });
    // Each instance sees the other's counts once its flusher (every second) has sent them.
    for (const [app, before] of [
      [first, beforeFirst],
      [second, beforeSecond],
    ] as const) {
      const report = await eventually(async () => {
        const now = await cacheReport(app);
        const source = added(before, now, (r) => r.families.source.redis);
        return source.hits === 5 && source.misses === 5 && now;
      }, 5_000);
      expect(report.scope).toBe('deployment');
      expect(added(before, report, (r) => r.families.session.l1)).toEqual({ hits: 5, misses: 0 });
      expect(added(before, report, (r) => r.total.redis)).toEqual({ hits: 5, misses: 5 });
    }

    // /metrics stays per instance: Prometheus sums instances itself.
    const samples = parseMetrics(await (await fetch(`${first.url}/metrics`)).text());
    expect(valueOf(samples, 'parley_cache_lookups_total', { family: 'source', layer: 'redis', result: 'hit' })).toBe(
      first.deps.cacheStats.snapshot().source.redis.hits,
    );
  });
});
