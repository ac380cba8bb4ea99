import type { ChildProcess } from 'node:child_process';
import { loadConfig } from '../../src/config/config';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import knex, { type Knex } from 'knex';
import WebSocket from 'ws';
import { newId } from '../../src/core/ids';
import { adminConnection, createTestDatabase } from '../helpers/databases';
import { connectTestRedis, testKeyPrefix } from '../helpers/redis';
import { eventually } from '../helpers/test-app';
import {
  API,
  WORKER,
  ensureBuilt,
  exited,
  messagesFrom,
  start as startProcess,
  type Started,
} from '../helpers/processes';

/**
 * The time limit these tests give a stopping process (the default is 10 s): far above what a
 * stop takes even on a busy machine, so that only a stop that waits for the limit reaches it.
 */
const SHUTDOWN_TIMEOUT_MILLIS = 20_000;
/** The processes' keys on the machine's Redis, deleted when the file is done. */
const REDIS_KEY_PREFIX = testKeyPrefix();

/** An api or worker process as an operator runs it in production, under this file's key prefix. */
const start = (entry: string, env: Record<string, string>): Started =>
  startProcess(entry, { REDIS_KEY_PREFIX, ...env });

describe('processes (compiled build, NODE_ENV=production)', () => {
  let database: { url: string; drop(): Promise<void> };
  let admin: Knex;
  const children: ChildProcess[] = [];

  /** The database URL for one process, named so that its connections can be counted in pg_stat_activity. */
  function databaseUrlFor(applicationName: string): string {
    const url = new URL(database.url);
    url.searchParams.set('application_name', applicationName);
    return url.toString();
  }

  async function connectionsOf(applicationName: string): Promise<number> {
    const result = await admin.raw<{ rows: { count: string }[] }>(
      'SELECT count(*) FROM pg_stat_activity WHERE application_name = ?',
      [applicationName],
    );
    return Number(result.rows[0]!.count);
  }

  function uniqueName(role: string): string {
    return `parley-${role}-${randomBytes(4).toString('hex')}`;
  }

  function track(started: Started): Started {
    children.push(started.child);
    return started;
  }

  beforeAll(async () => {
    [database] = await Promise.all([createTestDatabase(), ensureBuilt()]);
    admin = adminConnection();
  }, 180_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await admin?.destroy();
    await database?.drop();
    await (await connectTestRedis({ REDIS_KEY_PREFIX })).drop();
  });

  it('refuses to start with invalid settings, naming every problem in one message', async () => {
    const { child, output } = track(start(API, { PORT: 'eighty', REDIS_DB: '99', DATABASE_URL: 'mysql://x/y' }));
    expect(await exited(child)).toEqual({ code: 1, signal: null });
    expect(output()).toMatch(/^Invalid configuration:\n/);
    for (const name of ['PORT', 'REDIS_DB', 'DATABASE_URL']) expect(output()).toContain(`  - ${name}:`);
  });

  it('refuses to start against a database migrated with another embedding dimension', async () => {
    const { child, output } = track(start(WORKER, { DATABASE_URL: database.url, EMBEDDING_DIMENSION: '512' }));
    expect(await exited(child)).toEqual({ code: 1, signal: null });
    expect(output()).toContain('EMBEDDING_DIMENSION is 512 but the database stores vectors of 1024');
  });

  /** What a process printed that is not a JSON log line: what `runMain` wrote before exiting. */
  const plainLines = (output: string) => output.split('\n').filter((line) => line !== '' && !line.startsWith('{'));

  it('refuses to start when PostgreSQL does not answer, saying where and what to set, without its password', async () => {
    const unreachable = 'postgres://parley:hunter2@127.0.0.1:1/parley';
    for (const entry of [API, WORKER]) {
      const { child, output } = track(start(entry, { DATABASE_URL: unreachable, REDIS_ENABLED: 'false' }));
      expect(await exited(child)).toEqual({ code: 1, signal: null });
      expect(plainLines(output())).toEqual([
        expect.stringMatching(
          /^PostgreSQL at 127\.0\.0\.1:1\/parley did not answer \(.*ECONNREFUSED.*\); .*set DATABASE_URL$/,
        ),
      ]);
      expect(output()).not.toContain('hunter2');
    }
  });

  it('refuses to start when Redis does not answer, saying where and what to set', async () => {
    const { child, output } = track(
      start(API, { DATABASE_URL: database.url, REDIS_URL: 'redis://127.0.0.1:1', REDIS_CONNECT_TIMEOUT_MILLIS: '500' }),
    );
    expect(await exited(child)).toEqual({ code: 1, signal: null });
    expect(plainLines(output())).toEqual([
      expect.stringMatching(/^Redis at 127\.0\.0\.1:1 did not answer .*REDIS_ENABLED=false$/),
    ]);
  });

  it.each([
    ['a lone Redis (cluster mode)', 'lone'],
    ['a cluster that does not answer', 'down'],
  ])('refuses to start in cluster mode against %s, and exits 1 with the reason', async (_what, kind) => {
    // The machine's Redis is no cluster node: cluster mode must say so, not exit silently.
    const lone = new URL(loadConfig({}).redis.url);
    const nodes = kind === 'lone' ? `${lone.hostname}:${lone.port || 6379}` : '127.0.0.1:1';
    for (const entry of [API, WORKER]) {
      const { child, output } = track(
        start(entry, { DATABASE_URL: database.url, REDIS_CLUSTER_NODES: nodes, REDIS_CONNECT_TIMEOUT_MILLIS: '500' }),
      );
      expect(await exited(child)).toEqual({ code: 1, signal: null });
      expect(plainLines(output())).toEqual([
        expect.stringMatching(
          kind === 'lone'
            ? /^Redis Cluster at .* answers but is not a cluster .*unset REDIS_CLUSTER_NODES/
            : /^Redis Cluster at 127\.0\.0\.1:1 did not answer .*REDIS_ENABLED=false$/,
        ),
      ]);
    }
  });

  it('refuses to start on a port another process holds, saying which and what to set', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as AddressInfo;
    try {
      const { child, output } = track(
        start(API, { DATABASE_URL: database.url, HOST: '127.0.0.1', PORT: String(port) }),
      );
      expect(await exited(child)).toEqual({ code: 1, signal: null });
      expect(plainLines(output())).toEqual([
        `Port 127.0.0.1:${port} is taken by another process (another Parley?); stop it, or set PORT`,
      ]);
    } finally {
      holder.close();
    }
  });

  it('runs the api until SIGTERM, then closes its database pool and exits 0', async () => {
    const applicationName = uniqueName('api');
    const api = track(
      start(API, {
        DATABASE_URL: databaseUrlFor(applicationName),
        PORT: '0',
        HOST: '127.0.0.1',
        SHUTDOWN_TIMEOUT_MILLIS: String(SHUTDOWN_TIMEOUT_MILLIS),
      }),
    );
    // PORT=0: the system picks a free port, and the ready line says which.
    const ready = await eventually(async () => api.logged(/^Parley API ready/));
    const base = new URL(String(ready.graphql)).origin;
    expect((await fetch(`${base}/health/db`)).status).toBe(200);
    expect(await connectionsOf(applicationName)).toBeGreaterThan(0);

    api.child.kill('SIGTERM');
    expect(await exited(api.child)).toEqual({ code: 0, signal: null });
    expect(messagesFrom(api, 'shutting down')).toEqual([
      'shutting down',
      'clean-up step done',
      'clean-up step done',
      'clean-up step done',
      'clean-up step done',
      'stopped',
    ]);
    expect(
      api
        .logs()
        .filter((line) => line.msg === 'clean-up step done')
        .map((line) => line.step),
    ).toEqual(['http', 'cache-stats', 'cache', 'clients']);
    await eventually(async () => (await connectionsOf(applicationName)) === 0);
  });

  it('closes open WebSockets on SIGTERM and still exits 0 well within the time limit', async () => {
    const applicationName = uniqueName('api-ws');
    const api = track(
      start(API, {
        DATABASE_URL: databaseUrlFor(applicationName),
        PORT: '0',
        HOST: '127.0.0.1',
        SHUTDOWN_TIMEOUT_MILLIS: String(SHUTDOWN_TIMEOUT_MILLIS),
      }),
    );
    const ready = await eventually(async () => api.logged(/^Parley API ready/));
    const socket = new WebSocket(String(ready.websocket).replace('localhost', '127.0.0.1'), 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
      socket.on('message', (data) => {
        if (JSON.parse(data.toString()).type === 'connection_ack') resolve();
      });
      socket.on('error', reject);
    });

    api.child.kill('SIGTERM');
    // Before the fix, the upgraded socket held the HTTP server open until the time limit: exit 1.
    expect(await exited(api.child)).toEqual({ code: 0, signal: null });
    expect(await closed).toBe(1001);
    expect(api.logged('shutdown timed out; exiting anyway')).toBeUndefined();
  });

  it('gives up after SHUTDOWN_TIMEOUT_MILLIS when a request never finishes, and says so', async () => {
    const timeoutMillis = 1000;
    const api = track(
      start(API, {
        DATABASE_URL: database.url,
        PORT: '0',
        HOST: '127.0.0.1',
        SHUTDOWN_TIMEOUT_MILLIS: String(timeoutMillis),
      }),
    );
    const ready = await eventually(async () => api.logged(/^Parley API ready/));
    const { hostname, port } = new URL(String(ready.graphql));
    // A client that announces a body and never sends all of it: the HTTP server waits for it.
    const client: Socket = connect(Number(port), hostname);
    await once(client, 'connect');
    client.on('error', () => {});
    // The request must be in progress when the signal comes: sent at once, a signal can be
    // handled before the headers are read, and an idle connection closes at once (exit 0). The
    // server's "100 Continue" says it has read the headers and handed the request on.
    const continued = once(client, 'data');
    client.write(
      'POST /graphql HTTP/1.1\r\nhost: parley\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 100\r\n\r\n',
    );
    expect(String((await continued)[0])).toMatch(/^HTTP\/1\.1 100 Continue/);
    client.write('{');
    try {
      const signalledAt = Date.now();
      api.child.kill('SIGTERM');
      expect(await exited(api.child)).toEqual({ code: 1, signal: null });
      // Not before the limit; how long after it depends on the machine, so no upper bound.
      expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(timeoutMillis);
      expect(api.logged('shutdown timed out; exiting anyway')).toMatchObject({ step: 'http', timeoutMillis });
      expect(api.logged('stopped')).toBeUndefined();
    } finally {
      client.destroy();
    }
  });

  describe('worker', () => {
    let db: Knex;
    let botId: string;
    beforeAll(async () => {
      db = knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
      const userId = newId();
      botId = newId();
      await db('users').insert({ id: userId, email: 'worker@example.com', password_hash: 'x' });
      await db('bots').insert({ id: botId, owner_id: userId, name: 'b', public_key: `pk_${botId}` });
    });
    afterAll(async () => {
      await db?.destroy();
    });

    const sourceRow = (id: string) =>
      db('sources').where({ id }).first('status', 'chunk_count', 'lease_token', 'locked_at', 'error');

    it('runs until SIGTERM, ingesting what is queued, then closes its database pool and exits 0', async () => {
      const sourceId = newId();
      await db('sources').insert({
        id: sourceId,
        bot_id: botId,
        kind: 'TEXT',
        title: 'Hours',
        content: 'The library opens at nine and closes at five.',
        content_format: 'text',
      });
      const applicationName = uniqueName('worker');
      const worker = track(
        start(WORKER, {
          DATABASE_URL: databaseUrlFor(applicationName),
          INGEST_POLL_MILLIS: '50',
          SHUTDOWN_TIMEOUT_MILLIS: String(SHUTDOWN_TIMEOUT_MILLIS),
        }),
      );
      const source = await eventually(async () => {
        const row = await sourceRow(sourceId);
        return row.status === 'READY' ? row : undefined;
      });
      expect(source.chunk_count).toBe(1);
      expect(await connectionsOf(applicationName)).toBeGreaterThan(0);

      worker.child.kill('SIGTERM');
      expect(await exited(worker.child)).toEqual({ code: 0, signal: null });
      expect(
        worker
          .logs()
          .filter((line) => line.msg === 'clean-up step done')
          .map((line) => line.step),
      ).toEqual(['flusher', 'ingester', 'session-sweeper', 'vector-warmer', 'cache-stats', 'cache', 'clients']);
      expect(worker.logs().at(-1)).toMatchObject({ msg: 'stopped' });
      await eventually(async () => (await connectionsOf(applicationName)) === 0);
    });

    it('finishes the source in hand when SIGTERM arrives mid-fetch, within the time limit', async () => {
      // A page that answers only when the test says so: the worker's fetch is in flight at the signal.
      let requests = 0;
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      const page = createServer((_request, response) => {
        requests += 1;
        void answered.then(() => {
          response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          response.end('Opening hours. The shop opens at eight on weekdays and at ten on Saturdays.');
        });
      });
      page.listen(0, '127.0.0.1');
      await once(page, 'listening');
      const { port } = page.address() as AddressInfo;
      try {
        const sourceId = newId();
        await db('sources').insert({
          id: sourceId,
          bot_id: botId,
          kind: 'URL',
          title: 'Opening hours',
          url: `http://127.0.0.1:${port}/hours.txt`,
        });
        const worker = track(
          start(WORKER, {
            DATABASE_URL: database.url,
            INGEST_POLL_MILLIS: '50',
            // The page is on loopback, which URL sources may reach only in development otherwise.
            URL_FETCH_ALLOW_PRIVATE_HOSTS: 'true',
            SHUTDOWN_TIMEOUT_MILLIS: String(SHUTDOWN_TIMEOUT_MILLIS),
          }),
        );
        await eventually(async () => requests > 0);
        expect(await sourceRow(sourceId)).toMatchObject({ status: 'PROCESSING' });

        worker.child.kill('SIGTERM');
        await eventually(async () => worker.logged('shutting down'));
        answer();
        expect(await exited(worker.child)).toEqual({ code: 0, signal: null });
        // Within the limit: it would have exited 1 and said so otherwise (not timed: a busy machine is slow).
        expect(worker.logged('shutdown timed out; exiting anyway')).toBeUndefined();

        // Finished after the signal, not dropped: READY, and no lease left behind for a dead worker.
        expect(await sourceRow(sourceId)).toMatchObject({
          status: 'READY',
          chunk_count: 1,
          lease_token: null,
          locked_at: null,
          error: null,
        });
        // The steps run in order: the flusher's first (nothing in hand), then the ingester's,
        // which waits for its source. The source may be ingested while the flusher's step is
        // still closing its connections, or after: never once the ingester's step is done.
        const lines = messagesFrom(worker, 'shutting down');
        expect(lines.filter((line) => line !== 'source ingested' && line !== 'redis connected')).toEqual([
          'shutting down',
          ...Array<string>(7).fill('clean-up step done'),
          'stopped',
        ]);
        const ingesterStepDone = lines.flatMap((line, i) => (line === 'clean-up step done' ? [i] : []))[1]!;
        expect(lines.filter((line) => line === 'source ingested')).toHaveLength(1);
        expect(lines.indexOf('source ingested')).toBeLessThan(ingesterStepDone);
        expect(requests).toBe(1);
      } finally {
        answer();
        page.closeAllConnections();
        page.close();
      }
    });

    it('gives the source in hand back to the queue when its fetch outlasts the time limit, and exits 0', async () => {
      // The ingester gets the limit less 2 s (worker/main.ts): a 1 s grace here.
      const timeoutMillis = 3000;
      // A page that never answers; the fetch's own limit (10 s by default) is far beyond the shutdown's.
      let requests = 0;
      const page = createServer(() => {
        requests += 1;
      });
      page.listen(0, '127.0.0.1');
      await once(page, 'listening');
      const { port } = page.address() as AddressInfo;
      const sourceId = newId();
      try {
        await db('sources').insert({
          id: sourceId,
          bot_id: botId,
          kind: 'URL',
          title: 'Never answers',
          url: `http://127.0.0.1:${port}/hours.txt`,
        });
        const worker = track(
          start(WORKER, {
            DATABASE_URL: database.url,
            INGEST_POLL_MILLIS: '50',
            URL_FETCH_ALLOW_PRIVATE_HOSTS: 'true',
            SHUTDOWN_TIMEOUT_MILLIS: String(timeoutMillis),
          }),
        );
        await eventually(async () => requests > 0);
        expect(await db('sources').where({ id: sourceId }).first('status', 'attempts')).toEqual({
          status: 'PROCESSING',
          attempts: 1,
        });

        worker.child.kill('SIGTERM');
        expect(await exited(worker.child)).toEqual({ code: 0, signal: null });
        expect(worker.logged('shutdown timed out; exiting anyway')).toBeUndefined();

        // Back in the queue at once, for the next worker, with the interrupted try not counted.
        expect(
          await db('sources').where({ id: sourceId }).first('status', 'attempts', 'lease_token', 'locked_at', 'error'),
        ).toEqual({ status: 'PENDING', attempts: 0, lease_token: null, locked_at: null, error: null });
        // A flush loop's blocking connection is made on its first wait, which may be under way
        // when the signal comes: that is no step of the shutdown.
        expect(messagesFrom(worker, 'shutting down').filter((message) => message !== 'redis connected')).toEqual([
          'shutting down',
          // the flusher stops first (nothing in hand), then the ingester finishes its source
          'clean-up step done',
          'source given back unfinished',
          'clean-up step done',
          'clean-up step done',
          'clean-up step done',
          'clean-up step done',
          'clean-up step done',
          'clean-up step done',
          'stopped',
        ]);
        expect(worker.logged('source given back unfinished')).toMatchObject({ sourceId, givenBack: true });
        expect(worker.logged('shutdown timed out; exiting anyway')).toBeUndefined();
      } finally {
        // Out of the queue: no later worker in this file should find it.
        await db('sources').where({ id: sourceId }).delete();
        page.closeAllConnections();
        page.close();
      }
    });
  });
});
