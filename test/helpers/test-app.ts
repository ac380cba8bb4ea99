import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';
import type { AppDeps } from '../../src/app-deps';
import { loadConfig, type Config } from '../../src/config/config';
import { createHttpServer } from '../../src/http/server';
import { createLogger } from '../../src/core/logger';
import type { MessagesRepo } from '../../src/repos/messages';
import { startRuntime } from '../../src/runtime';
import type { BufferFlusher } from '../../worker/buffer-flusher';
import type { SourceIngester } from '../../worker/source-ingester';
import { createFlusher, createIngester } from '../../worker/worker';
import { createTestDatabase } from './databases';
import { deleteKeysWithPrefix, testBufferShards, testClusterNodes, testKeyPrefix } from './redis';

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
}

export interface TestApp {
  url: string;
  config: Config;
  deps: AppDeps;
  /** POSTs a GraphQL operation; `token` goes in as `Authorization: Bearer <token>`. */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ): Promise<GraphQLResponse<T>>;
  /** Starts an in-process worker that ingests sources (stopped by `close`). */
  startWorker(): SourceIngester;
  /**
   * Starts an in-process flusher of the write buffer (stopped by `close`), wired as the
   * worker's (worker/worker.ts). A Redis-enabled app starts one itself unless `startTestApp(env, { flusher: false })`.
   */
  startFlusher(settings?: Partial<Config['buffer']>, messages?: MessagesRepo): BufferFlusher;
  /** Resolves once the write buffer holds nothing waiting or in flight (at once in rollback mode). */
  drained(timeoutMillis?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs every step even if an earlier one fails, then rejects with the first failure: a
 * failed step must not leave later resources (a server, a pool, a database) behind.
 */
async function runAll(steps: (() => Promise<unknown>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error: unknown) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * The real api (Fastify, Apollo, graphql-ws) over this file's own database, on a free
 * port. Set TEST_LOG_LEVEL=debug to see its logs. If a step of start-up fails, what the
 * earlier steps made is closed and dropped before the error is rethrown.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: { flusher?: boolean; now?: () => number } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  /** What has been made so far, undone last first. */
  const undo: (() => Promise<unknown>)[] = [() => database.drop()];
  try {
    const config = loadConfig({
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // With REDIS_ENABLED=true, this app's keys live under a prefix of its own on the shared Redis.
      REDIS_KEY_PREFIX: testKeyPrefix(),
      // The whole suite runs in either mode: TEST_REDIS_ENABLED=true puts the Redis layer on.
      REDIS_ENABLED: process.env.TEST_REDIS_ENABLED ?? 'false',
      // And TEST_REDIS_CLUSTER_NODES on a Redis Cluster, unless the test brings a Redis of its own.
      REDIS_CLUSTER_NODES: testClusterNodes(env),
      // With the write buffer split in as many shards (npm run test:cluster: 16).
      BUFFER_SHARDS: testBufferShards(),
      // Suites send, sign up and log in far more than a person would, from one address: the
      // limits are tested where they are the subject (rate-limits.test.ts) and off elsewhere.
      RATE_LIMIT_ENABLED: 'false',
      // Likewise many connections at once from that one address (http-bounds.test.ts tests the cap).
      HTTP_MAX_CONNECTIONS_PER_IP: '0',
      DATABASE_URL: database.url,
      DATABASE_POOL_MIN_IDLE: '0',
      DATABASE_POOL_MAX: '5',
      INGEST_POLL_MILLIS: '50',
      INGEST_RETRY_BASE_MILLIS: '200',
      URL_FETCH_TIMEOUT_MILLIS: '2000',
      // Test pages are served from 127.0.0.1.
      URL_FETCH_ALLOW_PRIVATE_HOSTS: 'true',
      ...env,
    });
    const log = createLogger({ name: 'test', level: config.logLevel, pretty: false });
    // Started as the api starts in production (src/runtime.ts), the cache's warm-up included.
    const runtime = await startRuntime(config, log, 'api', { now: options.now });
    const deps = runtime.app;
    const { clients } = deps;
    // Released as the api releases it, with this app's keys deleted just before the clients close.
    const clientsStep = runtime.releaseSteps.find((step) => step.name === 'clients')!;
    undo.unshift(
      async () => {
        if (clients.redis) await deleteKeysWithPrefix(clients.redis, config.redis.keyPrefix);
        // A cache Redis of its own (REDIS_CACHE_URL) holds the rest of this app's keys.
        if (clients.cacheRedis && clients.cacheRedis !== clients.redis) {
          await deleteKeysWithPrefix(clients.cacheRedis, config.redis.keyPrefix);
        }
      },
      () => clientsStep.run(),
    );
    undo.unshift(...runtime.releaseSteps.filter((step) => step !== clientsStep).map((step) => () => step.run()));
    const server = await createHttpServer(deps);
    undo.unshift(() => server.close());
    const url = await server.listen();
    const workers: SourceIngester[] = [];
    const flushers: BufferFlusher[] = [];
    const startFlusher = (settings: Partial<Config['buffer']> = {}, messages = deps.repos.messages) => {
      const flusher = createFlusher(deps, { ...config.buffer, flushConcurrency: 1, ...settings }, messages);
      if (!flusher) throw new Error('The write buffer needs REDIS_ENABLED=true.');
      flusher.start();
      flushers.push(flusher);
      return flusher;
    };
    // Before the keys are deleted and the clients close: a flush in hand finishes first.
    undo.unshift(() => runAll(flushers.map((flusher) => () => flusher.stop())));
    if (deps.buffer && options.flusher !== false) startFlusher();

    return {
      url,
      config,
      deps,
      async gql(query, variables, token) {
        const response = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await response.json()) as Omit<GraphQLResponse, 'status' | 'headers'>;
        return { status: response.status, headers: response.headers, ...body } as GraphQLResponse<any>;
      },
      startWorker() {
        const ingester = createIngester(deps, { ...config.ingestion, concurrency: 1 });
        ingester.start();
        workers.push(ingester);
        return ingester;
      },
      startFlusher,
      async drained(timeoutMillis = 15_000) {
        const { buffer } = deps;
        if (!buffer) return;
        await eventually(async () => {
          const stats = await buffer.stats();
          return stats.depth === 0 && stats.inFlightIntents === 0;
        }, timeoutMillis);
      },
      close: () => runAll([...workers.map((worker) => () => worker.stop()), ...undo]),
    };
  } catch (error: unknown) {
    // The start-up error is the one worth seeing; a failed clean-up step does not hide it.
    await runAll(undo).catch(() => {});
    throw error;
  }
}

let emailCounter = 0;

/** Signs up a fresh owner; returns the token and user id. */
/** Another api instance of `first`'s deployment: its database and key prefix, `env` besides. */
export function startAnotherInstance(first: TestApp, env: Record<string, string> = {}): Promise<TestApp> {
  return startTestApp({
    REDIS_ENABLED: 'true',
    ...env,
    REDIS_KEY_PREFIX: first.config.redis.keyPrefix,
    DATABASE_URL: first.config.database.url,
  });
}

export async function signUpOwner(
  app: TestApp,
  name = 'owner',
): Promise<{ token: string; userId: string; email: string }> {
  const email = `${name}-${process.pid}-${++emailCounter}@example.com`;
  const response = await app.gql(`mutation($input: SignUpInput!) { signUp(input: $input) { token user { id } } }`, {
    input: { email, password: 'correct horse battery', name },
  });
  if (!response.data?.signUp) throw new Error(`sign-up failed: ${JSON.stringify(response.errors)}`);
  return { token: response.data.signUp.token, userId: response.data.signUp.user.id, email };
}

export async function createBot(
  app: TestApp,
  token: string,
  name = 'Test bot',
): Promise<{ id: string; publicKey: string }> {
  const response = await app.gql(
    `mutation($input: CreateBotInput!) { createBot(input: $input) { id publicKey } }`,
    { input: { name } },
    token,
  );
  if (!response.data?.createBot) throw new Error(`createBot failed: ${JSON.stringify(response.errors)}`);
  return response.data.createBot;
}

/**
 * A graphql-ws client of the app's WebSocket endpoint, as the widget and other clients open one;
 * it does not reconnect, so a test sees every close. The caller disposes of it.
 */
export function wsClient(
  app: Pick<TestApp, 'url'>,
  connectionParams: Record<string, unknown> = {},
  options: Partial<ClientOptions> = {},
): Client {
  return createClient({
    url: `${app.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    ...options,
  });
}

/** GETs `url`: its status and its JSON body. */
export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as any };
}

/** The first error's `extensions.code`, undefined when the response has no error. */
export function errorCode(response: GraphQLResponse): string | undefined {
  return response.errors?.[0]?.extensions?.code;
}

/**
 * Polls `check` until it returns something other than undefined or false, and returns that.
 * A thrown error counts as "not yet" too. On timeout it fails with what it saw last: the
 * last value (as JSON) or the last error (also its `cause`, with the stack).
 */
export async function eventually<T>(
  check: () => Promise<T>,
  timeoutMillis = 15_000,
): Promise<Exclude<T, undefined | false>> {
  const deadline = Date.now() + timeoutMillis;
  let last: { value: unknown } | { error: unknown };
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
      last = { value };
    } catch (error: unknown) {
      last = { error };
    }
    if (Date.now() > deadline) {
      const seen =
        'error' in last
          ? `the last check threw ${String(last.error)}`
          : `the last check returned ${JSON.stringify(last.value) ?? String(last.value)}`;
      throw new Error(`condition not met within ${timeoutMillis} ms: ${seen}`, {
        cause: 'error' in last ? last.error : undefined,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The cache keys `app` hears dropped from now on (its own invalidations and every other
 * instance's and the worker's): `heard(key, times)` waits until it has heard `key` that many
 * times in all, so a test waits for the event, never for a length of time.
 */
export function listenForInvalidations(app: TestApp) {
  const counts = new Map<string, number>();
  app.deps.cache!.entities.watch((dropped) => {
    if (dropped === 'all') return;
    for (const key of dropped) counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  return {
    heard: (key: string, times = 1) => eventually(async () => (counts.get(key) ?? 0) >= times),
  };
}
