import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CACHE_LAYERS, type CacheStatsCollector } from '../cache/cache-stats';
import { KEY_FAMILIES } from '../cache/keys';
import { poolStats, type Db, type PoolStats } from '../clients/postgres';
import type { GraphQLDurationLabels } from '../graphql/metrics-plugin';

/** Seconds; finer than prom-client's default at the low end, where cached reads land. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Metrics {
  /** This app's own registry: several apps in one process (tests) never share series. */
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  graphqlDuration: Histogram<GraphQLDurationLabels>;
}

/** Every series `/metrics` serves: cache counters, HTTP and GraphQL latency, pool gauges, Node's defaults. */
export function createMetrics(deps: { db: Db; cacheStats: CacheStatsCollector }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Counter({
    name: 'parley_cache_lookups_total',
    help: 'Cache lookups of this instance by key family, layer (l1, redis) and result (hit, miss)',
    labelNames: ['family', 'layer', 'result'],
    registers: [registry],
    // The counts live in the cache stats; a scrape copies them (every series, zeros included).
    collect() {
      const counts = deps.cacheStats.snapshot();
      this.reset();
      for (const family of KEY_FAMILIES) {
        for (const layer of CACHE_LAYERS) {
          this.inc({ family, layer, result: 'hit' }, counts[family][layer].hits);
          this.inc({ family, layer, result: 'miss' }, counts[family][layer].misses);
        }
      }
    },
  });

  const poolGauge = (name: string, help: string, pick: (stats: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(poolStats(deps.db)));
      },
    });
  poolGauge('parley_db_pool_connections', 'PostgreSQL pool connections open (idle + in use)', (s) => s.total);
  poolGauge('parley_db_pool_idle_connections', 'PostgreSQL pool connections open and idle', (s) => s.idle);
  poolGauge('parley_db_pool_in_use_connections', 'PostgreSQL pool connections lent out', (s) => s.inUse);
  poolGauge('parley_db_pool_waiting_acquires', 'Requests waiting for a PostgreSQL connection', (s) => s.waiting);

  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    graphqlDuration: new Histogram({
      name: 'graphql_operation_duration_seconds',
      help: 'GraphQL operation duration (HTTP) by operation type and outcome',
      labelNames: ['operation_type', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
  };
}

/**
 * Times every request and serves `GET /metrics` (never rate limited). Register before the
 * routes, so the hook sees all of them.
 */
export function registerMetrics(fastify: FastifyInstance, metrics: Metrics): void {
  fastify.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        // The pattern (`/graphql`), never the raw URL: query strings and ids would make a
        // series per request. Requests that matched no route share one label.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  fastify.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
