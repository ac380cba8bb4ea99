import type { FastifyInstance, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BufferedWritePathStats } from '../chat/buffered-write-path';
import type { ShardedBufferStats, BufferStats, WriteBuffer } from '../buffer/write-buffer';
import { CACHE_LAYERS, type CacheStatsCollector } from '../cache/cache-stats';
import { KEY_FAMILIES } from '../platform/redis/keys';
import { createThrottledWarn } from '../core/throttled-warn';
import type { EventLoopPressure } from '../chat/event-loop-pressure';
import { poolStats, type Db, type PoolStats } from '../platform/postgres/connection';
import type { GraphQLDurationLabels } from '../graphql/metrics-plugin';
import type { Logger } from '../core/logger';
import type { RateLimiter } from '../rate-limits/rate-limiter';
import { BUFFER_PROBLEMS, bufferProblems, NO_BUFFERED_WRITES, type BufferLimits } from './health-buffer';
import { withTimeout } from './health-redis';
import type { AdmissionControl } from './admission-control';
import type { ChunkMemory, ChunkMemoryStats } from '../search/chunk-memory';
import type { ConnectionLimits } from './connection-limits';

/** Seconds; finer than prom-client's default at the low end, where cached reads land. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** How long a scrape waits for the buffer's figures: well within Prometheus' default 10 s scrape timeout. */
const BUFFER_STATS_TIMEOUT_MILLIS = 1000;

/**
 * The buffer's figures for one scrape: the gauges that ask while a read is in flight share
 * it (prom-client starts every metric's collect in the same tick), and the next scrape reads
 * afresh. Undefined when Redis does not answer: the scrape goes on without them.
 */
function createScrapeStats(buffer: WriteBuffer, log: Logger): () => Promise<ShardedBufferStats | undefined> {
  // One line a minute while Redis is down, not one per scrape.
  const warn = createThrottledWarn(log, 60_000);
  let inFlight: Promise<ShardedBufferStats | undefined> | undefined;
  return () => {
    inFlight ??= withTimeout(buffer.stats(), BUFFER_STATS_TIMEOUT_MILLIS)
      .catch((error: unknown) => {
        warn(error, 'could not read the write buffer figures; /metrics leaves them out');
        return undefined;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}

export interface Metrics {
  /** This app's own registry: several apps in one process (tests) never share series. */
  registry: Registry;
  /** GraphQL requests are labelled with their operation too (absent elsewhere): one sample a request. */
  httpDuration: Histogram<'method' | 'route' | 'status_code' | GraphQLDurationLabels>;
  /** Which operation each GraphQL request ran, for its sample's labels. */
  operations: OperationLabels;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once a GraphQL request's response is ready: its operation's type and outcome. */
    graphqlOperation: Record<GraphQLDurationLabels, string> | null;
  }
}

interface OperationLabels {
  /** A GraphQL request begins: its labels may come (by its id) until its response is sent. */
  begin(request: FastifyRequest): void;
  /** The operation of the request `requestId` (the GraphQL metrics plugin calls this). */
  label(requestId: string, labels: Record<GraphQLDurationLabels, string>): void;
  end(request: FastifyRequest): void;
}

/**
 * The link from a GraphQL operation to its HTTP request. Apollo's plugins see the request's
 * context (and a copy of it at that), not Fastify's request, so the request is found by its
 * id; it is forgotten once labelled, and at the latest when its response is sent or aborted.
 */
function createOperationLabels(): OperationLabels {
  const inProgress = new Map<string, FastifyRequest>();
  return {
    begin: (request) => void inProgress.set(request.id, request),
    label(requestId, labels) {
      const request = inProgress.get(requestId);
      if (!request) return;
      request.graphqlOperation = labels;
      inProgress.delete(requestId);
    },
    end: (request) => void inProgress.delete(request.id),
  };
}

/**
 * Every series `/metrics` serves: cache counters, HTTP latency (by GraphQL operation too), pool gauges, the
 * write buffer's figures (with Redis), the event loop delay sends are gated on, Node's defaults.
 */
export function createMetrics(deps: {
  db: Db;
  cacheStats: CacheStatsCollector;
  /** Absent in rollback mode: no buffer series then. */
  buffer?: WriteBuffer;
  /** The buffered write path's counters; absent in rollback mode. */
  writeStats?: BufferedWritePathStats;
  /** What the buffer is judged degraded against, as /health/buffer does. */
  bufferLimits: BufferLimits;
  eventLoopPressure: EventLoopPressure;
  rateLimiter: Pick<RateLimiter, 'onDecision'>;
  /** Bots' chunks held in process; absent where there is none. */
  chunkMemory?: Pick<ChunkMemory, 'stats'>;
  log: Logger;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rateLimitDecisions = new Counter({
    name: 'parley_rate_limit_decisions_total',
    help: 'Rate-limit checks by policy and outcome (allowed, rejected); the first refusing counter counts the rejection',
    labelNames: ['policy', 'outcome'],
    registers: [registry],
  });
  deps.rateLimiter.onDecision((policy, outcome) => rateLimitDecisions.inc({ policy, outcome }));

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

  if (deps.buffer) {
    const scrapeStats = createScrapeStats(deps.buffer, deps.log);
    // The buffer is the deployment's, so every instance reports the same figures: aggregate
    // them across instances with max(), not sum().
    const bufferGauge = (name: string, help: string, pick: (stats: BufferStats) => number) =>
      new Gauge({
        name,
        help: `${help} (deployment-wide)`,
        registers: [registry],
        async collect() {
          const stats = await scrapeStats();
          // Left out rather than 0 while Redis does not answer: an empty buffer is not the same as an unknown one.
          if (stats) this.set(pick(stats));
          else this.remove({});
        },
      });
    bufferGauge('parley_buffer_depth', 'Intents waiting in the write buffer for a worker', (s) => s.depth);
    bufferGauge(
      'parley_buffer_oldest_age_seconds',
      'How long the next intent to be claimed has waited, 0 when none waits',
      (s) => s.oldestAgeMillis / 1000,
    );
    bufferGauge(
      'parley_buffer_in_flight_intents',
      'Intents claimed by workers and not yet acknowledged',
      (s) => s.inFlightIntents,
    );
    bufferGauge('parley_buffer_dead_letters', 'Intents dead-lettered, waiting for an operator', (s) => s.deadLetters);
    bufferGauge('parley_buffer_flush_rate', 'Intents flushed per second over the last 10 s', (s) => s.flushRate);
    bufferGauge(
      'parley_buffer_lag_seconds',
      "The last flush's oldest intent: how long it waited from push to COMMIT",
      (s) => s.lagMillis / 1000,
    );
    // A gauge, not a counter: the total lives in Redis, summed over every worker, and this
    // process only copies it.
    bufferGauge('parley_buffer_flushed_total', 'Intents flushed to PostgreSQL so far', (s) => s.flushedTotal);
    if (deps.buffer.shardCount > 1) {
      new Gauge({
        name: 'parley_buffer_shard_depth',
        help: 'Intents waiting in one shard of the write buffer (deployment-wide)',
        labelNames: ['shard'],
        registers: [registry],
        async collect() {
          const stats = await scrapeStats();
          this.reset();
          for (const shard of stats?.shards ?? []) this.set({ shard: String(shard.shard) }, shard.depth);
        },
      });
    }
    bufferGauge(
      'parley_buffer_oldest_in_flight_age_seconds',
      'How long the oldest intent a worker holds has waited since its push, 0 when none is held',
      (s) => s.oldestInFlightAgeMillis / 1000,
    );

    // The judgement of /health/buffer, from the same figures plus this instance's fallbacks.
    const { bufferLimits } = deps;
    const problemsNow = async () => {
      const stats = await scrapeStats();
      return (
        stats &&
        new Set(
          bufferProblems(stats, deps.writeStats ?? NO_BUFFERED_WRITES, bufferLimits, Date.now()).map((p) => p.problem),
        )
      );
    };
    new Gauge({
      name: 'parley_buffer_degraded',
      help: '1 while /health/buffer says degraded (see parley_buffer_degraded_reason), else 0',
      registers: [registry],
      async collect() {
        const problems = await problemsNow();
        if (problems) this.set(problems.size > 0 ? 1 : 0);
        else this.remove({});
      },
    });
    new Gauge({
      name: 'parley_buffer_degraded_reason',
      help: '1 for each reason /health/buffer gives for degraded: dead_letters, nearly_full, stale_intents (older than BUFFER_MAX_AGE_SECONDS), fallbacks (in the last minute)',
      labelNames: ['reason'],
      registers: [registry],
      async collect() {
        const problems = await problemsNow();
        this.reset();
        if (problems) for (const reason of BUFFER_PROBLEMS) this.set({ reason }, problems.has(reason) ? 1 : 0);
      },
    });
  }

  const { writeStats } = deps;
  if (writeStats) {
    // This instance's own counts; a scrape copies them, as the cache lookups above.
    const writeCounter = (name: string, help: string, pick: (stats: BufferedWritePathStats) => number) =>
      countedTotal(registry, name, help, () => pick(writeStats));
    writeCounter(
      'parley_buffer_fallbacks_total',
      'Sends of this instance written straight to PostgreSQL because the buffer did not take them',
      (s) => s.fallbacks,
    );
    writeCounter(
      'parley_buffer_refused_total',
      'Sends of this instance refused OVERLOADED because the buffer was full',
      (s) => s.refusedFull,
    );
  }

  const { chunkMemory } = deps;
  if (chunkMemory) {
    const memoryGauge = (name: string, help: string, pick: (stats: ChunkMemoryStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(pick(chunkMemory.stats()));
        },
      });
    memoryGauge('parley_chunk_memory_bots', 'Bots whose chunks this process holds to rank searches', (s) => s.bots);
    memoryGauge('parley_chunk_memory_bytes', 'Estimated bytes of the chunks this process holds', (s) => s.bytes);
    countedTotal(
      registry,
      'parley_chunk_memory_hits_total',
      'Searches of this process ranked on chunks already held',
      () => chunkMemory.stats().hits,
    );
    countedTotal(
      registry,
      'parley_chunk_memory_misses_total',
      'Searches of this process that waited for their bot’s chunks to load (or went to PostgreSQL)',
      () => chunkMemory.stats().misses,
    );
  }

  new Gauge({
    name: 'parley_event_loop_delay_seconds',
    help: 'Mean event loop delay over the last 0.5 s, what sends are refused OVERLOADED on (0 when that is off)',
    registers: [registry],
    collect() {
      this.set(deps.eventLoopPressure.delayMillis() / 1000);
    },
  });

  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code; for GraphQL, by operation type and outcome too',
      labelNames: ['method', 'route', 'status_code', 'operation_type', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    operations: createOperationLabels(),
  };
}

/**
 * Times every request and serves `GET /metrics` (never rate limited). Register before the
 * routes, so the hook sees all of them.
 */
export function registerMetrics(fastify: FastifyInstance, metrics: Metrics): void {
  fastify.decorateRequest('graphqlOperation', null);
  fastify.addHook('onResponse', async (request, reply) => {
    metrics.operations.end(request);
    metrics.httpDuration.observe(
      {
        method: request.method,
        // The pattern (`/graphql`), never the raw URL: query strings and ids would make a
        // series per request. Requests that matched no route share one label.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
        ...request.graphqlOperation,
      },
      reply.elapsedTime / 1000,
    );
  });
  fastify.addHook('onRequestAbort', async (request) => metrics.operations.end(request));

  fastify.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/**
 * The HTTP front door's own figures: requests in progress and refused by admission control,
 * and connections closed at once for their address's cap. Registered once both exist.
 */
export function registerFrontDoorMetrics(
  registry: Registry,
  sources: { admission: AdmissionControl; connections: ConnectionLimits },
): void {
  new Gauge({
    name: 'parley_http_requests_in_flight',
    help: 'API requests in progress in this process (counted once their body has arrived)',
    registers: [registry],
    collect() {
      this.set(sources.admission.inFlight());
    },
  });
  countedTotal(
    registry,
    'parley_http_requests_refused_total',
    'API requests refused OVERLOADED because HTTP_MAX_IN_FLIGHT were in progress',
    sources.admission.refused,
  );
  countedTotal(
    registry,
    'parley_http_connections_refused_total',
    'Connections closed at once because their address had HTTP_MAX_CONNECTIONS_PER_IP open',
    sources.connections.refused,
  );
}

/** A counter whose value a scrape copies from a running total the process keeps itself. */
function countedTotal(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
