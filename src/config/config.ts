import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { StartupError } from '../core/errors';

/**
 * The only reader of `process.env`. Every setting has a default that suits a
 * developer machine, so `make dev` needs no `.env`; `.env.example` lists them all.
 */
/** The most shards BUFFER_SHARDS may ask for: far more than the masters of one deployment. */
export const MAX_BUFFER_SHARDS = 256;

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

/** `host:port,host:port,…`: the seed nodes of a Redis Cluster (IP addresses: no DNS is resolved). */
const clusterNodes = z.string().transform((value, ctx) => {
  const nodes = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      // An IPv6 address in brackets ([::1]:7001), an IPv4 one without.
      const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
      const host = match?.[1] ?? match?.[2];
      const port = Number(match?.[3]);
      const bracketed = match?.[1] !== undefined;
      if (!host || isIP(host) === 0 || bracketed !== (isIP(host) === 6) || port < 1 || port > 65_535) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address and port (127.0.0.1:7001)` });
        return undefined;
      }
      return { host, port };
    });
  if (nodes.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (new Set(entries).size !== entries.length) ctx.addIssue({ code: 'custom', message: 'lists a node twice' });
  return nodes.filter((node): node is { host: string; port: number } => node !== undefined);
});

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

/** One setting: the environment variable it is read from, and how (validation and default). */
interface Setting<S extends z.ZodType = z.ZodType> {
  variable: string;
  schema: S;
}
const env = <S extends z.ZodType>(variable: string, schema: S): Setting<S> => ({ variable, schema });

interface SettingTree {
  [key: string]: Setting | SettingTree;
}
/** What a tree of settings parses to: the same shape, each setting its value. */
type Parsed<T> = T extends Setting<infer S> ? z.output<S> : { [K in keyof T]: Parsed<T[K]> };

/**
 * Every setting, once: where it sits in `Config`, the variable it comes from, its validation
 * and default. The type, the variable list and the mapping all come from this tree.
 */
const SETTINGS = {
  nodeEnv: env('NODE_ENV', z.enum(['development', 'test', 'production']).default('development')),
  logLevel: env('LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  http: {
    host: env('HOST', z.string().min(1).default('0.0.0.0')),
    port: env('PORT', intFromEnv(0, 65535).default(4000)),
    uploadMaxBytes: env('UPLOAD_MAX_BYTES', intFromEnv(1).default(10 * 1024 * 1024)),
    /** Proxies whose X-Forwarded-For names the client; empty: the socket's peer is the client. */
    trustedProxies: env('TRUSTED_PROXIES', trustedProxies.default([])),
    /** API requests in progress at most per process; more get OVERLOADED (503) at once; 0: no limit. */
    maxInFlight: env('HTTP_MAX_IN_FLIGHT', intFromEnv(0).default(4096)),
    /** Open connections at most per client address (HTTP and WebSocket alike); 0: no limit. */
    maxConnectionsPerIp: env('HTTP_MAX_CONNECTIONS_PER_IP', intFromEnv(0).default(128)),
    /** Time a client has to send a request's headers, and the whole request with its body. */
    headersTimeoutMillis: env('HTTP_HEADERS_TIMEOUT_MILLIS', intFromEnv(1000).default(10_000)),
    requestTimeoutMillis: env('HTTP_REQUEST_TIMEOUT_MILLIS', intFromEnv(1000).default(30_000)),
    /** The largest `/graphql` body from anyone; signed-in owners may send up to 5 MB (a TEXT source). */
    graphqlMaxBodyBytes: env('GRAPHQL_MAX_BODY_BYTES', intFromEnv(1024).default(256 * 1024)),
    /** IPv6 clients are counted per prefix of this length (their /64 by default), IPv4 per address. */
    ipv6PrefixBits: env('RATE_LIMIT_IPV6_PREFIX', intFromEnv(16, 128).default(64)),
  },
  /** How long a stopping process may take to finish what it holds before it exits anyway. */
  shutdownTimeoutMillis: env('SHUTDOWN_TIMEOUT_MILLIS', intFromEnv(100).default(10_000)),
  /** Limits checked before a GraphQL operation runs, on HTTP and WebSocket alike. */
  graphqlLimits: {
    maxDepth: env('GRAPHQL_MAX_DEPTH', intFromEnv(1, 100).default(6)),
    maxAliases: env('GRAPHQL_MAX_ALIASES', intFromEnv(0, 1000).default(10)),
    maxDirectives: env('GRAPHQL_MAX_DIRECTIVES', intFromEnv(0, 1000).default(10)),
    maxTokens: env('GRAPHQL_MAX_TOKENS', intFromEnv(10).default(1000)),
    maxCost: env('GRAPHQL_MAX_COST', intFromEnv(10).default(5000)),
  },
  websocket: {
    maxSubscriptionsPerSocket: env('WS_MAX_SUBSCRIPTIONS_PER_SOCKET', intFromEnv(1, 1000).default(10)),
    maxSocketsPerIp: env('WS_MAX_SOCKETS_PER_IP', intFromEnv(1).default(50)),
    /** How often open sockets re-check their session (expiry, a log-out on another instance). */
    sessionCheckSeconds: env('WS_SESSION_CHECK_SECONDS', intFromEnv(1, 3600).default(30)),
  },
  database: {
    url: env(
      'DATABASE_URL',
      urlWithProtocol(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/parley'),
    ),
    pool: {
      max: env('DATABASE_POOL_MAX', intFromEnv(1, 1000).default(25)),
      minIdle: env('DATABASE_POOL_MIN_IDLE', intFromEnv(0, 1000).default(10)),
      idleTimeoutMillis: env('DATABASE_POOL_IDLE_TIMEOUT_MILLIS', intFromEnv(1000).default(30_000)),
      maxLifetimeSeconds: env('DATABASE_POOL_MAX_LIFETIME_SECONDS', intFromEnv(1).default(3600)),
    },
  },
  redis: {
    enabled: env('REDIS_ENABLED', booleanFromEnv.default(true)),
    url: env('REDIS_URL', urlWithProtocol(['redis:', 'rediss:']).default('redis://127.0.0.1:6379')),
    /**
     * The Redis of the disposable cache (entities, search results, invalidations, hit counts);
     * undefined: the one at `url`. Its password and database number go in the URL.
     */
    cacheUrl: env('REDIS_CACHE_URL', urlWithProtocol(['redis:', 'rediss:']).optional()),
    /**
     * Set: every connection to the durable Redis is a Redis Cluster client seeded from these
     * nodes (REDIS_URL is then unused; REDIS_PASSWORD applies to every node), and so is the
     * cache's unless REDIS_CACHE_URL names a Redis of its own. Unset: the one Redis at REDIS_URL.
     */
    clusterNodes: env('REDIS_CLUSTER_NODES', clusterNodes.optional()),
    password: env('REDIS_PASSWORD', z.string().default('')),
    db: env('REDIS_DB', intFromEnv(0, 15).default(0)),
    ttlSeconds: env('REDIS_TTL', intFromEnv(1).default(3600)),
    /** Starts every key of this deployment, so deployments and test runs can share a Redis. */
    keyPrefix: env(
      'REDIS_KEY_PREFIX',
      z
        .string()
        .max(64, { error: 'must be at most 64 characters' })
        .regex(/^[\w:.-]+$/, { error: 'may hold only letters, digits and _ : . -' })
        .default('parley:'),
    ),
    connectTimeoutMillis: env('REDIS_CONNECT_TIMEOUT_MILLIS', intFromEnv(100).default(5000)),
    commandTimeoutMillis: env('REDIS_COMMAND_TIMEOUT_MILLIS', intFromEnv(10).default(3000)),
    /**
     * The in-process cache in front of Redis: bytes (of JSON) at most, 0 turns it off; and how long
     * an entry lives. Invalidations keep it fresh; the TTL bounds only what a lost one would leave.
     */
    l1: {
      maxBytes: env('CACHE_L1_MAX_BYTES', intFromEnv(0).default(32 * 1024 * 1024)),
      ttlMillis: env('CACHE_L1_TTL_MILLIS', intFromEnv(100, 300_000).default(60_000)),
    },
  },
  /**
   * Bots' chunks held in each api process, so searches and chat sends rank them without a round
   * trip (src/search/chunk-memory.ts); PostgreSQL's index answers bots with more chunks.
   */
  chunkMemory: {
    /** Estimated bytes all held bots' chunks may take; 0 turns the memory off. */
    maxBytes: env('CHUNK_MEMORY_MAX_BYTES', intFromEnv(0).default(32 * 1024 * 1024)),
    botMaxChunks: env('CHUNK_MEMORY_BOT_MAX_CHUNKS', intFromEnv(1, 1_000_000).default(2_000)),
  },
  /**
   * Whole query results held in each api process, dropped on the invalidations of what they read
   * (src/cache/response-cache.ts): bytes of JSON at most; 0 turns it off.
   */
  responseCache: {
    maxBytes: env('RESPONSE_CACHE_MAX_BYTES', intFromEnv(0).default(16 * 1024 * 1024)),
  },
  /** Search results in Redis, and the worker that refreshes the most asked ones before they expire. */
  vectorCache: {
    ttlSeconds: env('VECTOR_CACHE_TTL_SECONDS', intFromEnv(60, 3600).default(600)),
    warmTop: env('VECTOR_WARM_TOP', intFromEnv(1, 1000).default(50)),
    warmIntervalSeconds: env('VECTOR_WARM_INTERVAL_SECONDS', intFromEnv(1, 3600).default(120)),
    /** Searches asking for more results than this are answered from PostgreSQL and not cached. */
    maxLimit: env('VECTOR_CACHE_MAX_LIMIT', intFromEnv(1, 50).default(10)),
    /** Bytes of results one bot may store per TTL window (so at most twice this live at once). */
    botBudgetBytes: env('VECTOR_CACHE_BOT_BUDGET_BYTES', intFromEnv(1024).default(4 * 1024 * 1024)),
  },
  /**
   * Sliding-window limits on the fields marked `@rateLimit` in schema/, on uploads and on
   * subscribing: requests per window (60 s unless RATE_LIMIT_WINDOW_SECONDS says otherwise).
   */
  rateLimits: {
    enabled: env('RATE_LIMIT_ENABLED', booleanFromEnv.default(true)),
    windowSeconds: env('RATE_LIMIT_WINDOW_SECONDS', intFromEnv(1, 3600).default(60)),
    /** Requests per window: GLOBAL per field and api instance, the others shared by all instances. */
    limits: {
      GLOBAL: env('RATE_LIMIT_GLOBAL_PER_MIN', intFromEnv(1).default(1000)),
      USER: env('RATE_LIMIT_USER_PER_MIN', intFromEnv(1).default(100)),
      IP: env('RATE_LIMIT_IP_PER_MIN', intFromEnv(1).default(200)),
      BOT: env('RATE_LIMIT_BOT_PER_MIN', intFromEnv(1).default(500)),
      LOGIN: env('RATE_LIMIT_LOGIN_PER_MIN', intFromEnv(1).default(20)),
    },
  },
  /** The chat write buffer: what the api lets it hold, and how workers flush it (src/buffer/). */
  buffer: {
    /** Intents the pending list may hold; a send beyond it is refused OVERLOADED (503). */
    maxDepth: env('BUFFER_MAX_DEPTH', intFromEnv(1).default(100_000)),
    /** Intents one flush stores in one transaction, at most: a backlog drains in fewer of them. */
    batchSize: env('BUFFER_BATCH_SIZE', intFromEnv(1, 1000).default(250)),
    /** How long an idle flusher blocks waiting for an intent. */
    idleWaitMillis: env('BUFFER_IDLE_WAIT_MILLIS', intFromEnv(10, 10_000).default(100)),
    /**
     * How long a flush loop waits after a batch that was not full before it claims again, so the
     * next one is fuller: PostgreSQL then commits one transaction for more sends. What a send's
     * PERSISTED status may come later by; 0: claim again at once.
     */
    lingerMillis: env('BUFFER_LINGER_MILLIS', intFromEnv(0, 1_000).default(100)),
    /** A claim not renewed within this goes back to the pending list (its worker is gone). */
    leaseMillis: env('BUFFER_LEASE_MILLIS', intFromEnv(500).default(30_000)),
    /** Failed attempts on data after which an intent is dead-lettered. */
    maxAttempts: env('BUFFER_MAX_ATTEMPTS', intFromEnv(1, 100).default(3)),
    /** Flush loops per worker process. */
    flushConcurrency: env('BUFFER_FLUSH_CONCURRENCY', intFromEnv(1, 64).default(2)),
    /** The longest back-off between retries of a transient failure (PostgreSQL down). */
    retryMaxMillis: env('BUFFER_RETRY_MAX_MILLIS', intFromEnv(10).default(5_000)),
    /** An intent waiting longer than this (queued or in flight) makes /health/buffer degraded. */
    maxAgeSeconds: env('BUFFER_MAX_AGE_SECONDS', intFromEnv(1).default(60)),
    /**
     * Replicas that must hold an intent before its send is acknowledged (Redis WAIT), so that a
     * master lost right after cannot take it along; 0: the push alone is the acknowledgement.
     */
    minReplicas: env('BUFFER_MIN_REPLICAS', intFromEnv(0, 16).default(0)),
    /** How long a send waits for them; then it is written straight to PostgreSQL instead. */
    replicaTimeoutMillis: env('BUFFER_REPLICA_TIMEOUT_MILLIS', intFromEnv(1, 10_000).default(100)),
    /**
     * Shards the buffer is split into, each its own hash slot: on a Redis Cluster, more shards
     * than masters spread its load over them. Changed only while the buffer is empty
     * (src/buffer/layout.ts refuses to start otherwise).
     */
    shards: env('BUFFER_SHARDS', intFromEnv(1, MAX_BUFFER_SHARDS).default(1)),
  },
  /** Sends are refused OVERLOADED (503) while the event loop lags more than this; 0: never. */
  writeMaxEventLoopDelayMillis: env('WRITE_MAX_EVENT_LOOP_DELAY_MILLIS', intFromEnv(0).default(500)),
  embedding: { dimension: env('EMBEDDING_DIMENSION', intFromEnv(8, 2000).default(1024)) },
  sessions: {
    ttlSeconds: env('SESSION_TTL_SECONDS', intFromEnv(60).default(86_400)),
    /** While Redis is unreachable, a session this instance confirmed within this many seconds is still honoured; 0: never. */
    outageGraceSeconds: env('SESSION_OUTAGE_GRACE_SECONDS', intFromEnv(0, 3600).default(60)),
    /**
     * How long an api answers a token from its memory before asking Redis again; ended sessions
     * are dropped everywhere at once regardless (src/sessions/session-memory.ts). 0: always ask.
     */
    memorySeconds: env('SESSION_MEMORY_SECONDS', intFromEnv(0, 3600).default(300)),
  },
  /**
   * Password hashes (sign-up, log-in) run on threads of their own through one queue, fair
   * between client addresses (src/auth/password-hashing.ts); beyond a share, OVERLOADED (503).
   */
  passwordHashing: {
    /** Hashes at once; 0: one fewer than the cores (at least 1). */
    concurrency: env('PASSWORD_HASH_CONCURRENCY', intFromEnv(0, 64).default(0)),
    /** Hashes waiting at most, across addresses. */
    maxWaiting: env('PASSWORD_HASH_MAX_WAITING', intFromEnv(0, 10_000).default(32)),
    /** Hashes one client address may hold, running and waiting. */
    maxPerAddress: env('PASSWORD_HASH_MAX_PER_ADDRESS', intFromEnv(1, 1000).default(4)),
  },
  ingestion: {
    pollMillis: env('INGEST_POLL_MILLIS', intFromEnv(10).default(1000)),
    concurrency: env('INGEST_CONCURRENCY', intFromEnv(1, 64).default(2)),
    leaseSeconds: env('INGEST_LEASE_SECONDS', intFromEnv(10).default(300)),
    retryBaseMillis: env('INGEST_RETRY_BASE_MILLIS', intFromEnv(10).default(15_000)),
    /** Time one source's text extraction and chunking may take (in a worker thread) before the source fails. */
    extractTimeoutMillis: env('INGEST_EXTRACT_TIMEOUT_MILLIS', intFromEnv(1).default(20_000)),
    fetch: {
      timeoutMillis: env('URL_FETCH_TIMEOUT_MILLIS', intFromEnv(100).default(10_000)),
      maxBytes: env('URL_FETCH_MAX_BYTES', intFromEnv(1).default(5 * 1024 * 1024)),
      allowPrivateHosts: env('URL_FETCH_ALLOW_PRIVATE_HOSTS', booleanFromEnv.default(false)),
    },
  },
} satisfies SettingTree;

const isSetting = (node: Setting | SettingTree): node is Setting => node.schema instanceof z.ZodType;

/** Every setting of a tree, depth first. */
function settingsOf(tree: SettingTree): Setting[] {
  return Object.values(tree).flatMap((node) => (isSetting(node) ? [node] : settingsOf(node)));
}

/** The tree's shape with each setting's value, read from the parsed variables. */
function valuesOf(tree: SettingTree, values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(tree).map(([key, node]) => [key, isSetting(node) ? values[node.variable] : valuesOf(node, values)]),
  );
}

const ALL_SETTINGS = settingsOf(SETTINGS);
const twice = ALL_SETTINGS.filter((setting, i) => ALL_SETTINGS.findIndex((s) => s.variable === setting.variable) !== i);
// One variable behind two settings would feed both from one value.
if (twice.length > 0)
  throw new Error(`Settings read the same variable twice: ${twice.map((s) => s.variable).join(', ')}`);
const envSchema = z.object(Object.fromEntries(ALL_SETTINGS.map(({ variable, schema }) => [variable, schema])));

/** Every variable Parley reads; `.env.example` documents each. */
export const ENV_VARIABLES = Object.keys(envSchema.shape);

export type Config = Parsed<typeof SETTINGS> & { isProduction: boolean };
export type RateLimitSettings = Config['rateLimits'];

export class ConfigError extends StartupError {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Variables Parley read once, refused with what replaced them: left set, they would silently
 * stop doing what the operator meant (`CACHE_L1_MAX_ENTRIES=0` turned the L1 off).
 */
const RETIRED_VARIABLES: Record<string, string> = {
  CACHE_L1_MAX_ENTRIES: 'the L1 is bounded in bytes alone: CACHE_L1_MAX_BYTES (0 turns it off)',
};

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
  const config = valuesOf(SETTINGS, parsed.data) as Omit<Config, 'isProduction'>;
  const { database, http, vectorCache } = SETTINGS;
  /** A rule between two settings, broken: the message names both variables and their values. */
  const conflict = (first: Setting, rule: string, second: Setting, values: [number, number]) =>
    new ConfigError([`${first.variable}: must ${rule} ${second.variable} (${values[0]} vs ${values[1]})`]);
  const { pool } = config.database;
  if (pool.minIdle > pool.max) {
    throw conflict(database.pool.minIdle, 'not exceed', database.pool.max, [pool.minIdle, pool.max]);
  }
  // Node refuses a headers time-out longer than the request's (the headers are part of the request).
  if (config.http.headersTimeoutMillis > config.http.requestTimeoutMillis) {
    throw conflict(http.headersTimeoutMillis, 'not exceed', http.requestTimeoutMillis, [
      config.http.headersTimeoutMillis,
      config.http.requestTimeoutMillis,
    ]);
  }
  // The warmer refreshes results with less than a third of their TTL left: a longer interval lets them expire unseen.
  if (config.vectorCache.warmIntervalSeconds * 3 >= config.vectorCache.ttlSeconds) {
    throw conflict(vectorCache.warmIntervalSeconds, 'be under a third of', vectorCache.ttlSeconds, [
      config.vectorCache.warmIntervalSeconds,
      config.vectorCache.ttlSeconds,
    ]);
  }
  for (const [variable, instead] of Object.entries(RETIRED_VARIABLES)) {
    if (present[variable] !== undefined) throw new ConfigError([`${variable}: no longer read; ${instead}`]);
  }
  if (config.redis.clusterNodes && config.redis.db !== 0) {
    throw new ConfigError([
      `REDIS_CLUSTER_NODES: cannot be combined with REDIS_DB=${config.redis.db} (a cluster has only database 0)`,
    ]);
  }
  return { ...config, isProduction: config.nodeEnv === 'production' };
}
