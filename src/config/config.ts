import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { StartupError } from '../core/errors';

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

/**
 * One TRUSTED_PROXIES entry in the form proxy-addr compares: an address or `address/bits`,
 * an IPv4-mapped IPv6 form (`::ffff:10.0.0.1`) as its IPv4 address (bits less 96), and
 * undefined for anything that is not an address or a range.
 */
function normaliseProxy(entry: string): string | undefined {
  const [address = '', bits, ...rest] = entry.split('/');
  if (rest.length > 0 || isIP(address) === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) return undefined;
  let parsed = ipaddr.parse(address);
  let prefix = bits === undefined ? undefined : Number(bits);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    if (prefix !== undefined) prefix -= 96;
  }
  const maxBits = parsed.kind() === 'ipv4' ? 32 : 128;
  if (prefix !== undefined && (prefix < 0 || prefix > maxBits)) return undefined;
  return prefix === undefined ? parsed.toString() : `${parsed.toString()}/${prefix}`;
}

/** Comma-separated addresses or CIDR ranges of the proxies whose X-Forwarded-For is believed. */
const trustedProxies = z.string().transform((value, ctx) => {
  const entries = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const normalised = entries.map(normaliseProxy);
  const bad = entries.filter((_, i) => normalised[i] === undefined);
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a comma-separated list of IP addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1 (not an address: ${bad.join(', ')})`,
    });
    return z.NEVER;
  }
  return normalised as string[];
});

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: intFromEnv(0, 65535).default(4000),
  HTTP_MAX_IN_FLIGHT: intFromEnv(0).default(4096),
  HTTP_MAX_CONNECTIONS_PER_IP: intFromEnv(0).default(128),
  HTTP_HEADERS_TIMEOUT_MILLIS: intFromEnv(1000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MILLIS: intFromEnv(1000).default(30_000),
  GRAPHQL_MAX_BODY_BYTES: intFromEnv(1024).default(256 * 1024),
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
  REDIS_CACHE_URL: urlWithProtocol(['redis:', 'rediss:']).optional(),
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
  CACHE_L1_MAX_BYTES: intFromEnv(1024).default(32 * 1024 * 1024),
  VECTOR_CACHE_TTL_SECONDS: intFromEnv(60, 3600).default(600),
  VECTOR_CACHE_MAX_LIMIT: intFromEnv(1, 50).default(10),
  VECTOR_CACHE_BOT_BUDGET_BYTES: intFromEnv(1024).default(4 * 1024 * 1024),
  VECTOR_WARM_TOP: intFromEnv(1, 1000).default(50),
  VECTOR_WARM_INTERVAL_SECONDS: intFromEnv(1, 3600).default(120),

  RATE_LIMIT_ENABLED: booleanFromEnv.default(true),
  RATE_LIMIT_WINDOW_SECONDS: intFromEnv(1, 3600).default(60),
  RATE_LIMIT_GLOBAL_PER_MIN: intFromEnv(1).default(1000),
  RATE_LIMIT_USER_PER_MIN: intFromEnv(1).default(100),
  RATE_LIMIT_IP_PER_MIN: intFromEnv(1).default(200),
  RATE_LIMIT_BOT_PER_MIN: intFromEnv(1).default(500),
  RATE_LIMIT_LOGIN_PER_MIN: intFromEnv(1).default(20),
  RATE_LIMIT_IPV6_PREFIX: intFromEnv(16, 128).default(64),

  BUFFER_MAX_DEPTH: intFromEnv(1).default(100_000),
  BUFFER_BATCH_SIZE: intFromEnv(1, 1000).default(100),
  BUFFER_IDLE_WAIT_MILLIS: intFromEnv(10, 10_000).default(100),
  BUFFER_LEASE_MILLIS: intFromEnv(500).default(30_000),
  BUFFER_MAX_ATTEMPTS: intFromEnv(1, 100).default(3),
  BUFFER_FLUSH_CONCURRENCY: intFromEnv(1, 64).default(2),
  BUFFER_RETRY_MAX_MILLIS: intFromEnv(10).default(5_000),
  BUFFER_MAX_AGE_SECONDS: intFromEnv(1).default(60),
  WRITE_MAX_EVENT_LOOP_DELAY_MILLIS: intFromEnv(0).default(500),

  EMBEDDING_DIMENSION: intFromEnv(8, 2000).default(1024),
  SESSION_TTL_SECONDS: intFromEnv(60).default(86_400),
  SESSION_OUTAGE_GRACE_SECONDS: intFromEnv(0, 3600).default(60),
  PASSWORD_HASH_CONCURRENCY: intFromEnv(0, 64).default(0),
  PASSWORD_HASH_MAX_WAITING: intFromEnv(0, 10_000).default(32),
  PASSWORD_HASH_MAX_PER_ADDRESS: intFromEnv(1, 1000).default(4),
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

export interface RateLimitSettings {
  enabled: boolean;
  windowSeconds: number;
  /** Requests per window: GLOBAL per field and api instance, the others shared by all instances. */
  limits: { GLOBAL: number; USER: number; IP: number; BOT: number; LOGIN: number };
}

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
    /** Open connections at most per client address (HTTP and WebSocket alike); 0: no limit. */
    maxConnectionsPerIp: number;
    /** Time a client has to send a request's headers, and the whole request with its body. */
    headersTimeoutMillis: number;
    requestTimeoutMillis: number;
    /** The largest `/graphql` body from anyone; signed-in owners may send up to 5 MB (a TEXT source). */
    graphqlMaxBodyBytes: number;
    /** IPv6 clients are counted per prefix of this length (their /64 by default), IPv4 per address. */
    ipv6PrefixBits: number;
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
    /**
     * The Redis of the disposable cache (entities, search results, invalidations, hit counts);
     * undefined: the one at `url`. Its password and database number go in the URL.
     */
    cacheUrl?: string;
    password: string;
    db: number;
    ttlSeconds: number;
    /** Starts every key of this deployment, so deployments and test runs can share a Redis. */
    keyPrefix: string;
    connectTimeoutMillis: number;
    commandTimeoutMillis: number;
    /** The in-process cache in front of Redis: entries and bytes (of JSON) at most, and how long one lives. */
    l1: { maxEntries: number; maxBytes: number; ttlMillis: number };
  };
  /** Search results in Redis, and the worker that refreshes the most asked ones before they expire. */
  vectorCache: {
    ttlSeconds: number;
    warmTop: number;
    warmIntervalSeconds: number;
    /** Searches asking for more results than this are answered from PostgreSQL and not cached. */
    maxLimit: number;
    /** Bytes of results one bot may store per TTL window (so at most twice this live at once). */
    botBudgetBytes: number;
  };
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
    /** An intent waiting longer than this (queued or in flight) makes /health/buffer degraded. */
    maxAgeSeconds: number;
  };
  /** Sends are refused OVERLOADED (503) while the event loop lags more than this; 0: never. */
  writeMaxEventLoopDelayMillis: number;
  embedding: { dimension: number };
  sessions: {
    ttlSeconds: number;
    /** While Redis is unreachable, a session this instance confirmed within this many seconds is still honoured; 0: never. */
    outageGraceSeconds: number;
  };
  /**
   * Password hashes (sign-up, log-in) run on threads of their own through one queue, fair
   * between client addresses (src/auth/password-hashing.ts); beyond a share, OVERLOADED (503).
   */
  passwordHashing: {
    /** Hashes at once; 0: one fewer than the cores (at least 1). */
    concurrency: number;
    /** Hashes waiting at most, across addresses. */
    maxWaiting: number;
    /** Hashes one client address may hold, running and waiting. */
    maxPerAddress: number;
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

export class ConfigError extends StartupError {
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
  // Node refuses a headers time-out longer than the request's (the headers are part of the request).
  if (e.HTTP_HEADERS_TIMEOUT_MILLIS > e.HTTP_REQUEST_TIMEOUT_MILLIS) {
    throw new ConfigError([
      `HTTP_HEADERS_TIMEOUT_MILLIS: must not exceed HTTP_REQUEST_TIMEOUT_MILLIS (${e.HTTP_HEADERS_TIMEOUT_MILLIS} > ${e.HTTP_REQUEST_TIMEOUT_MILLIS})`,
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
      maxConnectionsPerIp: e.HTTP_MAX_CONNECTIONS_PER_IP,
      headersTimeoutMillis: e.HTTP_HEADERS_TIMEOUT_MILLIS,
      requestTimeoutMillis: e.HTTP_REQUEST_TIMEOUT_MILLIS,
      graphqlMaxBodyBytes: e.GRAPHQL_MAX_BODY_BYTES,
      ipv6PrefixBits: e.RATE_LIMIT_IPV6_PREFIX,
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
      cacheUrl: e.REDIS_CACHE_URL,
      password: e.REDIS_PASSWORD,
      db: e.REDIS_DB,
      ttlSeconds: e.REDIS_TTL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      connectTimeoutMillis: e.REDIS_CONNECT_TIMEOUT_MILLIS,
      commandTimeoutMillis: e.REDIS_COMMAND_TIMEOUT_MILLIS,
      l1: { maxEntries: e.CACHE_L1_MAX_ENTRIES, maxBytes: e.CACHE_L1_MAX_BYTES, ttlMillis: e.CACHE_L1_TTL_MILLIS },
    },
    vectorCache: {
      ttlSeconds: e.VECTOR_CACHE_TTL_SECONDS,
      warmTop: e.VECTOR_WARM_TOP,
      warmIntervalSeconds: e.VECTOR_WARM_INTERVAL_SECONDS,
      maxLimit: e.VECTOR_CACHE_MAX_LIMIT,
      botBudgetBytes: e.VECTOR_CACHE_BOT_BUDGET_BYTES,
    },
    rateLimits: {
      enabled: e.RATE_LIMIT_ENABLED,
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      limits: {
        GLOBAL: e.RATE_LIMIT_GLOBAL_PER_MIN,
        USER: e.RATE_LIMIT_USER_PER_MIN,
        IP: e.RATE_LIMIT_IP_PER_MIN,
        BOT: e.RATE_LIMIT_BOT_PER_MIN,
        LOGIN: e.RATE_LIMIT_LOGIN_PER_MIN,
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
      maxAgeSeconds: e.BUFFER_MAX_AGE_SECONDS,
    },
    writeMaxEventLoopDelayMillis: e.WRITE_MAX_EVENT_LOOP_DELAY_MILLIS,
    embedding: { dimension: e.EMBEDDING_DIMENSION },
    sessions: { ttlSeconds: e.SESSION_TTL_SECONDS, outageGraceSeconds: e.SESSION_OUTAGE_GRACE_SECONDS },
    passwordHashing: {
      concurrency: e.PASSWORD_HASH_CONCURRENCY,
      maxWaiting: e.PASSWORD_HASH_MAX_WAITING,
      maxPerAddress: e.PASSWORD_HASH_MAX_PER_ADDRESS,
    },
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
