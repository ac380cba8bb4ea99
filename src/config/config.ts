import { isIP } from 'node:net';
import { z } from 'zod';
import type { RateLimitSettings } from '../rate-limits/rate-limiter';

/**
 * The only reader of `process.env`. Every setting has a default that suits a
 * developer machine, so `make dev` needs no `.env`; `.env.example` lists them all.
 */
const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], {
    error: 'must be one of true, false, 1, 0, yes, no',
  })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const intFromEnv = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const urlWithProtocol = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

/** Comma-separated addresses or CIDR ranges of the proxies whose X-Forwarded-For is believed. */
const trustedProxies = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== ''),
  )
  .refine(
    (parts) => parts.every((part) => /^[0-9a-f.:]+(?:\/\d{1,3})?$/i.test(part) && isIP(part.split('/')[0] ?? '') !== 0),
    {
      error: 'must be a comma-separated list of IP addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1',
    },
  );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: intFromEnv(0, 65535).default(4000),
  HTTP_MAX_IN_FLIGHT: intFromEnv(0).default(4096),
  TRUSTED_PROXIES: trustedProxies.default([]),
  SHUTDOWN_TIMEOUT_MILLIS: intFromEnv(100).default(10_000),

  GRAPHQL_MAX_DEPTH: intFromEnv(1, 100).default(6),
  GRAPHQL_MAX_ALIASES: intFromEnv(0, 1000).default(10),
  GRAPHQL_MAX_DIRECTIVES: intFromEnv(0, 1000).default(10),
  GRAPHQL_MAX_TOKENS: intFromEnv(10).default(1000),
  GRAPHQL_MAX_COST: intFromEnv(10).default(5000),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: intFromEnv(1, 1000).default(10),
  WS_MAX_SOCKETS_PER_IP: intFromEnv(1).default(50),
  WS_SESSION_CHECK_SECONDS: intFromEnv(1, 3600).default(30),

  DATABASE_URL: urlWithProtocol(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/parley'),
  DATABASE_POOL_MAX: intFromEnv(1, 1000).default(25),
  DATABASE_POOL_MIN_IDLE: intFromEnv(0, 1000).default(10),
  DATABASE_POOL_IDLE_TIMEOUT_MILLIS: intFromEnv(1000).default(30_000),
  DATABASE_POOL_MAX_LIFETIME_SECONDS: intFromEnv(1).default(3600),

  REDIS_ENABLED: booleanFromEnv.default(true),
  REDIS_URL: urlWithProtocol(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_PASSWORD: z.string().default(''),
  REDIS_DB: intFromEnv(0, 15).default(0),
  REDIS_TTL: intFromEnv(1).default(3600),
  REDIS_KEY_PREFIX: z
    .string()
    .max(64, { error: 'must be at most 64 characters' })
    .regex(/^[\w:.-]+$/, { error: 'may hold only letters, digits and _ : . -' })
    .default('parley:'),
  REDIS_CONNECT_TIMEOUT_MILLIS: intFromEnv(100).default(5000),
  REDIS_COMMAND_TIMEOUT_MILLIS: intFromEnv(10).default(3000),
  CACHE_L1_MAX_ENTRIES: intFromEnv(0, 1_000_000).default(10_000),
  CACHE_L1_TTL_MILLIS: intFromEnv(100, 5000).default(2000),
  VECTOR_CACHE_TTL_SECONDS: intFromEnv(60, 3600).default(600),
  VECTOR_WARM_TOP: intFromEnv(1, 1000).default(50),
  VECTOR_WARM_INTERVAL_SECONDS: intFromEnv(1, 3600).default(120),

  RATE_LIMIT_ENABLED: booleanFromEnv.default(true),
  RATE_LIMIT_WINDOW_SECONDS: intFromEnv(1, 3600).default(60),
  RATE_LIMIT_GLOBAL_PER_MIN: intFromEnv(1).default(1000),
  RATE_LIMIT_USER_PER_MIN: intFromEnv(1).default(100),
  RATE_LIMIT_IP_PER_MIN: intFromEnv(1).default(200),
  RATE_LIMIT_BOT_PER_MIN: intFromEnv(1).default(500),

  BUFFER_MAX_DEPTH: intFromEnv(1).default(100_000),
  BUFFER_BATCH_SIZE: intFromEnv(1, 1000).default(100),
  BUFFER_IDLE_WAIT_MILLIS: intFromEnv(10, 10_000).default(100),
  BUFFER_LEASE_MILLIS: intFromEnv(500).default(30_000),
  BUFFER_MAX_ATTEMPTS: intFromEnv(1, 100).default(3),
  BUFFER_FLUSH_CONCURRENCY: intFromEnv(1, 64).default(2),
  BUFFER_RETRY_MAX_MILLIS: intFromEnv(10).default(5_000),
  WRITE_MAX_EVENT_LOOP_DELAY_MILLIS: intFromEnv(0).default(500),

  EMBEDDING_DIMENSION: intFromEnv(8, 2000).default(1024),
  SESSION_TTL_SECONDS: intFromEnv(60).default(86_400),
  SESSION_OUTAGE_GRACE_SECONDS: intFromEnv(0, 3600).default(60),
  UPLOAD_MAX_BYTES: intFromEnv(1).default(10 * 1024 * 1024),

  INGEST_POLL_MILLIS: intFromEnv(10).default(1000),
  INGEST_CONCURRENCY: intFromEnv(1, 64).default(2),
  INGEST_LEASE_SECONDS: intFromEnv(10).default(300),
  INGEST_RETRY_BASE_MILLIS: intFromEnv(10).default(15_000),
  INGEST_EXTRACT_TIMEOUT_MILLIS: intFromEnv(1).default(20_000),
  URL_FETCH_TIMEOUT_MILLIS: intFromEnv(100).default(10_000),
  URL_FETCH_MAX_BYTES: intFromEnv(1).default(5 * 1024 * 1024),
  URL_FETCH_ALLOW_PRIVATE_HOSTS: booleanFromEnv.default(false),
});

/** Every variable Parley reads; `.env.example` documents each. */
export const ENV_VARIABLES = Object.keys(envSchema.shape);

export interface Config {
  nodeEnv: 'development' | 'test' | 'production';
  isProduction: boolean;
  logLevel: string;
  http: {
    host: string;
    port: number;
    uploadMaxBytes: number;
    /** Proxies whose X-Forwarded-For names the client; empty: the socket's peer is the client. */
    trustedProxies: string[];
    /** API requests in progress at most per process; more get OVERLOADED (503) at once; 0: no limit. */
    maxInFlight: number;
  };
  /** How long a stopping process may take to finish what it holds before it exits anyway. */
  shutdownTimeoutMillis: number;
  /** Limits checked before a GraphQL operation runs, on HTTP and WebSocket alike. */
  graphqlLimits: { maxDepth: number; maxAliases: number; maxDirectives: number; maxTokens: number; maxCost: number };
  websocket: {
    maxSubscriptionsPerSocket: number;
    maxSocketsPerIp: number;
    /** How often open sockets re-check their session (expiry, a log-out on another instance). */
    sessionCheckSeconds: number;
  };
  database: {
    url: string;
    pool: { max: number; minIdle: number; idleTimeoutMillis: number; maxLifetimeSeconds: number };
  };
  redis: {
    enabled: boolean;
    url: string;
    password: string;
    db: number;
    ttlSeconds: number;
    /** Starts every key of this deployment, so deployments and test runs can share a Redis. */
    keyPrefix: string;
    connectTimeoutMillis: number;
    commandTimeoutMillis: number;
    /** The in-process cache in front of Redis: entries at most, and how long one lives. */
    l1: { maxEntries: number; ttlMillis: number };
  };
  /** Search results in Redis, and the worker that refreshes the most asked ones before they expire. */
  vectorCache: { ttlSeconds: number; warmTop: number; warmIntervalSeconds: number };
  /**
   * Sliding-window limits on the fields marked `@rateLimit` in schema/, on uploads and on
   * subscribing: requests per window (60 s unless RATE_LIMIT_WINDOW_SECONDS says otherwise).
   */
  rateLimits: RateLimitSettings;
  /** The chat write buffer: what the api lets it hold, and how workers flush it (src/buffer/). */
  buffer: {
    /** Intents the pending list may hold; a send beyond it is refused OVERLOADED (503). */
    maxDepth: number;
    batchSize: number;
    /** How long an idle flusher blocks waiting for an intent. */
    idleWaitMillis: number;
    /** A claim not renewed within this goes back to the pending list (its worker is gone). */
    leaseMillis: number;
    /** Failed attempts on data after which an intent is dead-lettered. */
    maxAttempts: number;
    /** Flush loops per worker process. */
    flushConcurrency: number;
    /** The longest back-off between retries of a transient failure (PostgreSQL down). */
    retryMaxMillis: number;
  };
  /** Sends are refused OVERLOADED (503) while the event loop lags more than this; 0: never. */
  writeMaxEventLoopDelayMillis: number;
  embedding: { dimension: number };
  sessions: {
    ttlSeconds: number;
    /** While Redis is unreachable, a session this instance confirmed within this many seconds is still honoured; 0: never. */
    outageGraceSeconds: number;
  };
  ingestion: {
    pollMillis: number;
    concurrency: number;
    leaseSeconds: number;
    retryBaseMillis: number;
    /** Time one source's text extraction and chunking may take (in a worker thread) before the source fails. */
    extractTimeoutMillis: number;
    fetch: { timeoutMillis: number; maxBytes: number; allowPrivateHosts: boolean };
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses the environment once; throws a ConfigError naming every invalid variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most .env tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join('.');
        return `${name}: ${issue.message} (got ${JSON.stringify(env[name])})`;
      }),
    );
  }
  const e = parsed.data;
  if (e.DATABASE_POOL_MIN_IDLE > e.DATABASE_POOL_MAX) {
    throw new ConfigError([
      `DATABASE_POOL_MIN_IDLE: must not exceed DATABASE_POOL_MAX (${e.DATABASE_POOL_MIN_IDLE} > ${e.DATABASE_POOL_MAX})`,
    ]);
  }
  // The warmer refreshes results with less than a third of their TTL left: a longer interval lets them expire unseen.
  if (e.VECTOR_WARM_INTERVAL_SECONDS * 3 >= e.VECTOR_CACHE_TTL_SECONDS) {
    throw new ConfigError([
      `VECTOR_WARM_INTERVAL_SECONDS: must be under a third of VECTOR_CACHE_TTL_SECONDS (${e.VECTOR_WARM_INTERVAL_SECONDS} >= ${e.VECTOR_CACHE_TTL_SECONDS} / 3)`,
    ]);
  }
  return {
    nodeEnv: e.NODE_ENV,
    isProduction: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    http: {
      host: e.HOST,
      port: e.PORT,
      uploadMaxBytes: e.UPLOAD_MAX_BYTES,
      trustedProxies: e.TRUSTED_PROXIES,
      maxInFlight: e.HTTP_MAX_IN_FLIGHT,
    },
    shutdownTimeoutMillis: e.SHUTDOWN_TIMEOUT_MILLIS,
    graphqlLimits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxCost: e.GRAPHQL_MAX_COST,
    },
    websocket: {
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
      maxSocketsPerIp: e.WS_MAX_SOCKETS_PER_IP,
      sessionCheckSeconds: e.WS_SESSION_CHECK_SECONDS,
    },
    database: {
      url: e.DATABASE_URL,
      pool: {
        max: e.DATABASE_POOL_MAX,
        minIdle: e.DATABASE_POOL_MIN_IDLE,
        idleTimeoutMillis: e.DATABASE_POOL_IDLE_TIMEOUT_MILLIS,
        maxLifetimeSeconds: e.DATABASE_POOL_MAX_LIFETIME_SECONDS,
      },
    },
    redis: {
      enabled: e.REDIS_ENABLED,
      url: e.REDIS_URL,
      password: e.REDIS_PASSWORD,
      db: e.REDIS_DB,
      ttlSeconds: e.REDIS_TTL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      connectTimeoutMillis: e.REDIS_CONNECT_TIMEOUT_MILLIS,
      commandTimeoutMillis: e.REDIS_COMMAND_TIMEOUT_MILLIS,
      l1: { maxEntries: e.CACHE_L1_MAX_ENTRIES, ttlMillis: e.CACHE_L1_TTL_MILLIS },
    },
    vectorCache: {
      ttlSeconds: e.VECTOR_CACHE_TTL_SECONDS,
      warmTop: e.VECTOR_WARM_TOP,
      warmIntervalSeconds: e.VECTOR_WARM_INTERVAL_SECONDS,
    },
    rateLimits: {
      enabled: e.RATE_LIMIT_ENABLED,
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      limits: {
        GLOBAL: e.RATE_LIMIT_GLOBAL_PER_MIN,
        USER: e.RATE_LIMIT_USER_PER_MIN,
        IP: e.RATE_LIMIT_IP_PER_MIN,
        BOT: e.RATE_LIMIT_BOT_PER_MIN,
      },
    },
    buffer: {
      maxDepth: e.BUFFER_MAX_DEPTH,
      batchSize: e.BUFFER_BATCH_SIZE,
      idleWaitMillis: e.BUFFER_IDLE_WAIT_MILLIS,
      leaseMillis: e.BUFFER_LEASE_MILLIS,
      maxAttempts: e.BUFFER_MAX_ATTEMPTS,
      flushConcurrency: e.BUFFER_FLUSH_CONCURRENCY,
      retryMaxMillis: e.BUFFER_RETRY_MAX_MILLIS,
    },
    writeMaxEventLoopDelayMillis: e.WRITE_MAX_EVENT_LOOP_DELAY_MILLIS,
    embedding: { dimension: e.EMBEDDING_DIMENSION },
    sessions: { ttlSeconds: e.SESSION_TTL_SECONDS, outageGraceSeconds: e.SESSION_OUTAGE_GRACE_SECONDS },
    ingestion: {
      pollMillis: e.INGEST_POLL_MILLIS,
      concurrency: e.INGEST_CONCURRENCY,
      leaseSeconds: e.INGEST_LEASE_SECONDS,
      retryBaseMillis: e.INGEST_RETRY_BASE_MILLIS,
      extractTimeoutMillis: e.INGEST_EXTRACT_TIMEOUT_MILLIS,
      fetch: {
        timeoutMillis: e.URL_FETCH_TIMEOUT_MILLIS,
        maxBytes: e.URL_FETCH_MAX_BYTES,
        allowPrivateHosts: e.URL_FETCH_ALLOW_PRIVATE_HOSTS,
      },
    },
  };
}
