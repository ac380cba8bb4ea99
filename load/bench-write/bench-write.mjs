// The write benchmark, run by load/bench-write.sh: `sendMessage` throughput and PostgreSQL cost,
// the Redis write buffer against rollback mode, side by side in one run, and cleans up.
//   (a) Parley with REDIS_ENABLED=true: api + one worker (`node dist/worker/main.js`), which
//       flushes the buffered intents into PostgreSQL; its own REDIS_KEY_PREFIX per run
//   (b) Parley in rollback mode, REDIS_ENABLED=false: the api alone, one transaction per send
// Seed: one owner and one bot (every send updates that bot's row). Each run starts its
// processes afresh (NODE_ENV=production, LOG_LEVEL=warn), sends WARMUP_SENDS unmeasured, waits
// for them to be stored and for PostgreSQL's statistics to settle, then sends SENDS from
// CONNECTIONS closed-loop clients (one keep-alive connection each), and waits until PostgreSQL
// holds every acknowledged message (the drain). Runs at CONNECTIONS, then at CONNECTIONS_BIG.
//
// Cost: xact_commit delta of the benchmark database from before the measured sends until the
// run's processes have exited (so it includes the drain and the worker's flushes), less this
// script's own probe transactions, divided by the messages stored (rows in `messages`: a
// send stores the user's message and the bot's reply). PostgreSQL 15 publishes a backend's
// counts when it goes idle, at most once a second; an idle backend that could not publish
// holds them up to 10 s. Hence STATS_SETTLE_SECONDS of quiet before the first reading, and
// the last one only once every backend of the run has exited (exit publishes).
//
// Everything it starts it stops by pid; it drops its database and deletes its Redis keys
// (its own prefix, SCAN + UNLINK) at the end, also on failure or Ctrl-C.
//
// Imported (bench-limits.mjs does), it runs nothing: it lends `createHarness` (build, database,
// processes, Redis keys, clean-up, CPU samples under one run name), `sendLoad`, `gql`,
// `logSummary`, `fmt`, `head` and `sleep`.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { keepAlivePool, latencySummary, postGraphql } from '../bench-read/loadgen.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const loadDir = resolve(here, '..');
const repo = resolve(loadDir, '..');
// The app's own Redis client (ioredis), from its node_modules: load/ needs no new dependency.
const Redis = createRequire(join(repo, 'package.json'))('ioredis');
const env = process.env;
const num = (name, def) => Number(env[name] ?? def);
const cfg = {
  sends: num('SENDS', 10_000),
  connections: num('CONNECTIONS', 100),
  connectionsBig: num('CONNECTIONS_BIG', 1000),
  warmupSends: num('WARMUP_SENDS', 500),
  sendsPerConversation: num('SENDS_PER_CONVERSATION', 5),
  targets: (env.TARGETS ?? 'redis,rollback').split(','),
  drainTimeoutSeconds: num('DRAIN_TIMEOUT_SECONDS', 120),
  drainPollMillis: num('DRAIN_POLL_MILLIS', 50),
  statsSettleSeconds: num('STATS_SETTLE_SECONDS', 11),
  requestTimeoutSeconds: num('REQUEST_TIMEOUT_SECONDS', 60),
  pgAdmin: env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisPort: num('REDIS_PORT', 6379),
  basePort: num('BASE_PORT', 4621),
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function gql(origin, query, variables, token) {
  const res = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`${query.slice(0, 40)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** SIGTERM, then SIGKILL after 15 s; resolves once the process has exited. */
export async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

/** Polls `url` until it answers 2xx; fails at once, with the end of its output, if `child` exits. */
export async function waitHttp(url, child, seconds = 60) {
  for (let i = 0; i < seconds * 10; i++) {
    if (child.exitCode !== null) throw new Error(`${child.name} exited: ${child.tail()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer in ${seconds}s: ${child.tail()}`);
}

export const head = () =>
  execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();

/**
 * One benchmark run's own things, all named after `name` and the run's stamp: its database
 * (`parley_<name>_<stamp>`), its Redis key prefix stem, its results folder, its processes (each
 * with a log file there), its build of HEAD; and the clean-up of all of them (by pid, DROP
 * DATABASE, SCAN + UNLINK of its prefix), also on SIGINT/SIGTERM.
 */
export function createHarness({ name, pgAdmin = cfg.pgAdmin, redisPort = cfg.redisPort }) {
  const stamp = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}_${process.pid}`;
  const dbName = `parley_${name.replaceAll('-', '_')}_${stamp.toLowerCase()}`;
  const dbUrl = pgAdmin.replace(/\/[^/]*$/, `/${dbName}`);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  /** Every key of this run starts with it: the runs' prefixes add the target and the concurrency. */
  const prefixStem = `parley-${name}-${stamp}-`;
  const outDir = join(loadDir, 'results', `${name}-${stamp}`);
  mkdirSync(outDir, { recursive: true });

  const children = new Set();
  /** Open connections of this script to the benchmark database, ended before it is dropped. */
  const probes = new Set();
  let buildDir;
  let dbCreated = false;
  const log = (...a) => console.error(`[${name} ${new Date().toISOString().slice(11, 19)}]`, ...a);
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });

  /** Starts a process with its stdout and stderr (pino's JSON lines) in a log file of the run. */
  function start(name, cmd, args, extraEnv, logName) {
    const logFile = join(outDir, `${logName}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(cmd, args, { cwd: repo, env: { ...env, ...extraEnv }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.name = name;
    child.logFile = logFile;
    child.tail = () => readFileSync(logFile, 'utf8').slice(-3000);
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }

  /** SCAN + UNLINK of this run's own keys; never FLUSHALL/FLUSHDB (the Redis is shared). */
  async function redisDeletePrefix(prefix) {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }

  async function adminQuery(sql, params) {
    const admin = new pg.Client({ connectionString: pgAdmin });
    await admin.connect();
    try {
      return (await admin.query(sql, params)).rows;
    } finally {
      await admin.end();
    }
  }

  /** CREATE DATABASE (dropped by the clean-up from then on) and the app's migrations. */
  async function createDatabase() {
    await adminQuery(`CREATE DATABASE ${dbName}`);
    dbCreated = true;
    log(`created ${dbName}; migrating`);
    execFileSync(join(repo, 'node_modules/.bin/tsx'), ['src/cli/migrate.ts', 'latest'], {
      cwd: repo,
      env: { ...env, DATABASE_URL: dbUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }

  /**
   * Transactions and rows written of the run's database, from a fresh statistics snapshot.
   * PostgreSQL 15 publishes a backend's counts when it goes idle, at most once a second, and
   * when it exits: read it once no backend of the run is left (`waitNoBackends`).
   */
  async function pgStats() {
    const [row] = await adminQuery(
      `SELECT xact_commit::bigint AS c, xact_rollback::bigint AS r, tup_inserted::bigint AS i,
              tup_updated::bigint AS u, tup_deleted::bigint AS d, tup_fetched::bigint AS f
         FROM pg_stat_database WHERE datname = $1`,
      [dbName],
    );
    return {
      commits: Number(row.c),
      rollbacks: Number(row.r),
      rowsWritten: Number(row.i) + Number(row.u) + Number(row.d),
      rowsFetched: Number(row.f),
    };
  }

  /** Waits until no backend is connected to the run's database: all have published their counts. */
  async function waitNoBackends(seconds = 30) {
    for (let i = 0; i < seconds * 10; i++) {
      const [{ n }] = await adminQuery('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [dbName]);
      if (n === 0) return;
      await sleep(100);
    }
    throw new Error(`backends still connected to ${dbName} after ${seconds}s`);
  }

  /**
   * A connection to the run's database that counts its own transactions (one for the
   * connection's start-up, one per statement), to take them out of the run's figure.
   */
  async function probe() {
    const client = new pg.Client({ connectionString: dbUrl });
    // Cleanup's DROP DATABASE … WITH (FORCE) ends it from the server side: not a crash.
    client.on('error', (error) => log(`probe connection: ${error.message}`));
    await client.connect();
    probes.add(client);
    let own = 1;
    return {
      query: async (sql, params) => {
        own++;
        return (await client.query(sql, params)).rows;
      },
      own: () => own,
      end: async () => {
        probes.delete(client);
        await client.end();
      },
    };
  }

  async function cleanup() {
    for (const child of [...children]) await stop(child).catch(() => undefined);
    for (const client of [...probes]) await client.end().catch(() => undefined);
    if (dbCreated) {
      try {
        await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        log(`dropped database ${dbName}`);
      } catch (error) {
        log(`could not drop ${dbName}: ${error}`);
      }
    }
    try {
      log(`deleted ${await redisDeletePrefix(prefixStem)} Redis keys under ${prefixStem}`);
    } catch (error) {
      log(`could not delete keys under ${prefixStem}: ${error}`);
    }
    redis.disconnect();
    if (buildDir && !env.PARLEY_DIST) rmSync(buildDir, { recursive: true, force: true });
  }

  let cleaning;
  const cleanOnce = () => (cleaning ??= cleanup());
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.on(signal, async () => {
      log(`${signal}: cleaning up`);
      await cleanOnce();
      process.exit(130);
    });

  function build() {
    if (env.PARLEY_DIST) return resolve(env.PARLEY_DIST);
    // The committed code (HEAD), built apart from the work tree, as bench-read does.
    buildDir = mkdtempSync(join(tmpdir(), `parley-${name}-build-`));
    log(`building HEAD (${head()}) in ${buildDir}`);
    execFileSync(
      'sh',
      [
        '-c',
        `git -C "${repo}" archive HEAD src worker schema package.json tsconfig.json tsconfig.build.json | tar -x -C "${buildDir}"`,
      ],
      { stdio: 'inherit' },
    );
    symlinkSync(join(repo, 'node_modules'), join(buildDir, 'node_modules'));
    execFileSync(process.execPath, [join(repo, 'scripts/compile.mjs'), buildDir], { stdio: 'inherit' });
    return join(buildDir, 'dist');
  }

  const parleyEnv = (port, prefix) => ({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    REDIS_ENABLED: prefix ? 'true' : 'false',
    REDIS_KEY_PREFIX: prefix ?? `${prefixStem}unused:`,
    // One owner sends and reads far beyond the per-user limit on purpose: the limits are
    // measured apart (make bench-limits), off here as in the figures before they existed.
    RATE_LIMIT_ENABLED: 'false',
    // Every load generator connects from 127.0.0.1: thousands of connections from one address,
    // which production caps (HTTP_MAX_CONNECTIONS_PER_IP) and load from many clients never meets.
    HTTP_MAX_CONNECTIONS_PER_IP: '0',
  });

  /**
   * CPU jiffies of the whole machine (busy, total) and, by pid, of node processes that are not
   * this run's (as bench-read: another test run on the same cores skews the figures).
   */
  function cpuSample() {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const ours = new Set([process.pid, ...[...children].map((c) => c.pid)]);
    const foreign = new Map();
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (ours.has(Number(pid))) continue;
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!/node|jest|tsx|npm/.test(comm)) continue;
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        foreign.set(pid, Number(rest[11]) + Number(rest[12]));
      } catch {
        // the process ended while we read it
      }
    }
    return { busy: total - f[3] - f[4], total, foreign };
  }

  /** Busy and foreign-node CPU between two samples, in % of the machine; the foreign processes by name. */
  function cpuBetween(a, b) {
    const total = b.total - a.total;
    const top = [];
    let foreign = 0;
    for (const [pid, jiffies] of b.foreign) {
      // Only processes alive at both samples count; one that starts or ends mid-run shows partly.
      const used = jiffies - (a.foreign.get(pid) ?? jiffies);
      if (used <= 0) continue;
      foreign += used;
      let cmd = '?';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim().slice(0, 100);
      } catch {
        // gone
      }
      top.push({ pid: Number(pid), percent: (100 * used) / total, cmd });
    }
    return {
      busyPercent: (100 * (b.busy - a.busy)) / total,
      foreignNodePercent: (100 * foreign) / total,
      foreignTop: top.sort((x, y) => y.percent - x.percent).slice(0, 3),
    };
  }

  function versions() {
    const one = (cmd, args) => {
      try {
        return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
      } catch {
        return '?';
      }
    };
    const cpu = cpus();
    return `${cpu.length} CPUs (${cpu[0]?.model.trim()}), Node ${process.version}, PostgreSQL ${one('psql', ['-X', '-A', '-t', pgAdmin, '-c', 'SHOW server_version']).split(' ')[0]}, Redis ${one('redis-cli', ['-p', String(redisPort), 'INFO', 'server']).match(/redis_version:(\S+)/)?.[1] ?? '?'}`;
  }

  return {
    stamp,
    dbName,
    dbUrl,
    redisUrl,
    prefixStem,
    outDir,
    children,
    probes,
    log,
    redis,
    start,
    stop,
    waitHttp,
    redisDeletePrefix,
    adminQuery,
    createDatabase,
    pgStats,
    waitNoBackends,
    probe,
    cleanOnce,
    build,
    parleyEnv,
    cpuSample,
    cpuBetween,
    versions,
  };
}

// Run (not imported): this run's harness, by the names the code below has always used.
const isMain = Boolean(process.argv[1]) && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
const {
  stamp,
  prefixStem,
  outDir,
  children,
  log,
  redis,
  start,
  createDatabase,
  pgStats,
  waitNoBackends,
  probe,
  cleanOnce,
  build,
  parleyEnv,
  cpuSample,
  cpuBetween,
  versions,
} = isMain ? createHarness({ name: 'bench-write' }) : {};

async function seed(dist) {
  await createDatabase();
  const port = cfg.basePort + 9;
  const origin = `http://127.0.0.1:${port}`;
  const api = start('seed-api', process.execPath, [join(dist, 'src/main.js')], parleyEnv(port), 'seed-api');
  await waitHttp(`${origin}/health/db`, api);
  const email = `bench-write-${stamp.toLowerCase()}@example.com`;
  const password = `Bench-${randomBytes(12).toString('hex')}`;
  const { signUp } = await gql(origin, 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }', {
    i: { email, password, name: 'Bench Owner' },
  });
  const { createBot } = await gql(
    origin,
    'mutation($i: CreateBotInput!) { createBot(input: $i) { id } }',
    { i: { name: 'Bench write bot', description: 'The one bot every send of the write benchmark goes to' } },
    signUp.token,
  );
  await stop(api);
  log(`signed up ${email}, bot ${createBot.id}`);
  // The password and tokens stay in this process: nothing secret goes to results/.
  return { email, password, postgresToken: signUp.token, botId: createBot.id };
}

const counts = async (db, botId) => {
  const [row] = await db.query(
    `SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM conversations)::int AS conversations,
            (SELECT message_count FROM bots WHERE id = $1)::int AS "botCount"`,
    [botId],
  );
  return row;
};

const SEND = 'mutation Send($i: SendMessageInput!) { sendMessage(input: $i) { conversationId message { id status } } }';
// A widget's visitors ask the same few things; with Redis on, retrieval is answered by the vector cache.
export const TEXTS = [
  'When are you open on Saturday?',
  'Do you sell decaf beans by the kilo?',
  'Can I get a refund on a gift card?',
  'How long does shipping abroad take?',
  'Do you have oat milk?',
];

/**
 * `total` sends from `connections` closed-loop clients over one pool (one keep-alive
 * connection each); each client keeps a conversation for `sendsPerConversation` sends, then
 * starts a new one. Every answer's latency is kept (exact percentiles).
 */
export async function sendLoad({
  origin,
  token,
  botId,
  total,
  connections,
  onTick,
  sendsPerConversation = cfg.sendsPerConversation,
  requestTimeoutSeconds = cfg.requestTimeoutSeconds,
}) {
  const pool = keepAlivePool(origin, connections);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const timeout = requestTimeoutSeconds * 1000;
  const latencies = [];
  const httpCodes = {};
  const errorCodes = {};
  const errorSamples = new Map();
  const statuses = {};
  /** Conversations a send was told NOT_FOUND about, though an earlier send had created them. */
  const lostConversations = new Set();
  let issued = 0;
  let acked = 0;
  let errors = 0;
  let lastAck = 0;
  let peakSockets = 0;
  const bump = (map, key) => (map[key] = (map[key] ?? 0) + 1);
  const fail = (code, sample) => {
    errors++;
    bump(errorCodes, code);
    if (errorSamples.size < 5 && !errorSamples.has(code)) errorSamples.set(code, String(sample).slice(0, 300));
  };
  async function client() {
    let conversationId = null;
    let sent = 0;
    while (issued < total) {
      const n = issued++;
      if (sent >= sendsPerConversation) [conversationId, sent] = [null, 0];
      const body = JSON.stringify({
        query: SEND,
        variables: { i: { botId, text: TEXTS[n % TEXTS.length], ...(conversationId ? { conversationId } : {}) } },
      });
      const t0 = performance.now();
      const { statusCode, text, error } = await postGraphql(pool, headers, body, timeout);
      const t1 = performance.now();
      latencies.push(t1 - t0);
      bump(httpCodes, statusCode || 'none');
      if (statusCode === 0) {
        fail(error.code ?? error.name ?? 'client error', error);
        continue;
      }
      let answer;
      try {
        answer = JSON.parse(text);
      } catch {
        fail(`HTTP ${statusCode}, not JSON`, text);
        continue;
      }
      const sentMessage = answer.data?.sendMessage;
      if (statusCode !== 200 || answer.errors || !sentMessage?.message?.id) {
        const code = answer.errors?.[0]?.extensions?.code ?? `HTTP ${statusCode}`;
        fail(code, text);
        if (code === 'NOT_FOUND' && conversationId) lostConversations.add(conversationId);
        // A client that cannot post to its conversation starts a new one rather than insist.
        [conversationId, sent] = [null, 0];
        continue;
      }
      acked++;
      lastAck = t1;
      bump(statuses, sentMessage.message.status);
      conversationId = sentMessage.conversationId;
      sent++;
    }
  }
  const ticker = setInterval(() => {
    peakSockets = Math.max(peakSockets, pool.stats.connected);
    onTick?.();
  }, 100);
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, client));
  const ended = performance.now();
  clearInterval(ticker);
  peakSockets = Math.max(peakSockets, pool.stats.connected);
  await pool.close();
  return {
    ...latencySummary(latencies, (ended - started) / 1000),
    acked,
    ackedPerSecond: acked / ((ended - started) / 1000),
    errors,
    httpCodes,
    errorCodes,
    errorSamples: Object.fromEntries(errorSamples),
    statuses,
    lostConversations: lostConversations.size,
    lastAck,
    peakSockets,
  };
}

/** Polls `SELECT count(*) FROM messages` until it reaches `expected`; returns when, or null on time-out. */
export async function waitRows(db, expected, seconds) {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    const [{ n }] = await db.query('SELECT count(*)::int AS n FROM messages');
    const now = performance.now();
    if (n >= expected) return { reachedAt: now, rows: n };
    if (now > deadline) return { reachedAt: null, rows: n };
    await sleep(cfg.drainPollMillis);
  }
}

/** `/health/buffer` of an api, or `{ error }` when it did not answer. */
export async function bufferHealth(origin) {
  try {
    return await fetch(`${origin}/health/buffer`).then((r) => r.json());
  } catch (error) {
    return { error: String(error) };
  }
}

/** The warn/error/fatal lines of a process's log, by message (pino levels 40/50/60). */
export function logSummary(file) {
  const byMessage = new Map();
  let other = 0;
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      byMessage.set(`(not JSON) ${line.slice(0, 160)}`, (byMessage.get(`(not JSON) ${line.slice(0, 160)}`) ?? 0) + 1);
      continue;
    }
    if (entry.level >= 40) {
      const key = `${{ 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }[entry.level] ?? entry.level} ${entry.msg}${entry.err?.message ? `: ${entry.err.message.slice(0, 160)}` : ''}`;
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
    } else other++;
  }
  return { lines: Object.fromEntries(byMessage), belowWarn: other };
}

async function run(target, connections, dist, owner) {
  const buffered = target === 'redis';
  const id = `${target}-c${connections}`;
  const prefix = buffered ? `${prefixStem}${id}:` : undefined;
  const port = cfg.basePort + (buffered ? 0 : 1);
  const origin = `http://127.0.0.1:${port}`;
  const targetEnv = parleyEnv(port, prefix);
  log(`${id}: starting ${buffered ? 'api + worker' : 'api'} on ${origin}`);
  const worker = buffered
    ? start('worker', process.execPath, [join(dist, 'worker/main.js')], targetEnv, `${id}-worker`)
    : null;
  const api = start('api', process.execPath, [join(dist, 'src/main.js')], targetEnv, `${id}-api`);
  await waitHttp(`${origin}/health/db`, api);
  // With REDIS_ENABLED=true sessions live in Redis: log in through the target for a token it knows.
  const token = buffered
    ? (
        await gql(origin, 'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }', {
          e: owner.email,
          p: owner.password,
        })
      ).logIn.token
    : owner.postgresToken;
  const load = { origin, token, botId: owner.botId, connections };

  // Warm-up: JIT, the api's pool and caches, every socket opened; then stored, then quiet.
  const warm = await probe();
  const beforeWarmup = await counts(warm, owner.botId);
  const warmupSends = Math.max(cfg.warmupSends, connections);
  log(`${id}: ${warmupSends} warm-up sends`);
  const warmup = await sendLoad({ ...load, total: warmupSends });
  const warmDrain = await waitRows(warm, beforeWarmup.messages + 2 * warmup.acked, cfg.drainTimeoutSeconds);
  await warm.end();
  if (worker && worker.exitCode !== null) throw new Error(`worker exited: ${worker.tail()}`);
  log(
    `${id}: warm-up ${warmup.acked}/${warmupSends} acknowledged; ${cfg.statsSettleSeconds}s for statistics to settle`,
  );
  await sleep(cfg.statsSettleSeconds * 1000);

  // Measured: from here until every backend of the run has exited.
  const pgBefore = await pgStats();
  const db = await probe();
  const before = await counts(db, owner.botId);
  const pendingKey = prefix && `${prefix}buffer:{buffer}:pending`;
  let peakDepth = 0;
  const sampleDepth = () =>
    pendingKey &&
    redis.llen(pendingKey).then(
      (d) => (peakDepth = Math.max(peakDepth, d)),
      () => undefined,
    );
  log(`${id}: ${cfg.sends} sends from ${connections} connections`);
  const cpu0 = cpuSample();
  const result = await sendLoad({ ...load, total: cfg.sends, onTick: sampleDepth });
  const cpu1 = cpuSample();
  const expected = before.messages + 2 * result.acked;
  const depthTimer = pendingKey && setInterval(sampleDepth, 100);
  const drain = await waitRows(db, expected, cfg.drainTimeoutSeconds);
  if (depthTimer) clearInterval(depthTimer);
  const drainMillis = drain.reachedAt === null ? null : Math.max(0, drain.reachedAt - result.lastAck);
  // Anything still on its way (a timed-out send the api stored after all) shows up here.
  let health = null;
  if (buffered) {
    for (let i = 0; i < 50; i++) {
      health = await bufferHealth(origin);
      if (health.depth === 0 && health.inFlightIntents === 0) break;
      await sleep(100);
    }
  }
  await sleep(500);
  const after = await counts(db, owner.botId);
  await db.end();
  await stop(api);
  await stop(worker);
  await waitNoBackends();
  const pgAfter = await pgStats();
  const own = db.own();

  const stored = after.messages - before.messages;
  const commits = pgAfter.commits - pgBefore.commits - own;
  const r = {
    id,
    target,
    connections,
    warmup: { sends: warmupSends, acked: warmup.acked, errors: warmup.errors, stored: warmDrain.reachedAt !== null },
    ...result,
    drainMillis,
    drainTimedOut: drain.reachedAt === null,
    peakBufferDepth: buffered ? peakDepth : null,
    rows: { before: before.messages, after: after.messages, stored, expected: 2 * result.acked },
    rowsOk: stored === 2 * result.acked,
    botCounter: { delta: after.botCount - before.botCount, ok: after.botCount - before.botCount === stored },
    conversations: after.conversations - before.conversations,
    pg: { commits, rollbacks: pgAfter.rollbacks - pgBefore.rollbacks, ownProbeTransactions: own },
    commitsPerMessage: stored ? commits / stored : null,
    commitsPerSend: stored ? commits / (stored / 2) : null,
    bufferHealth: health,
    machine: cpuBetween(cpu0, cpu1),
    logs: Object.fromEntries([api, worker].filter(Boolean).map((child) => [child.name, logSummary(child.logFile)])),
  };
  log(
    `${id}: ${fmt(r.rps, 0)} req/s, p99 ${fmt(r.p99)} ms, ${r.errors} errors, drain ${fmt(drainMillis, 0)} ms, ${fmt(r.commitsPerMessage, 3)} commits/message`,
  );
  return r;
}

export const fmt = (x, d = 1) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : x.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d });

if (isMain) {
  try {
    await redis.connect();
    const commit = head();
    const dist = build();
    const owner = await seed(dist);
    const levels = [cfg.connections, ...(cfg.connectionsBig > 0 ? [cfg.connectionsBig] : [])];
    const results = [];
    for (const connections of levels)
      for (const target of cfg.targets) {
        try {
          results.push(await run(target, connections, dist, owner));
        } catch (error) {
          // A failed run (e.g. sockets the machine would not open) is reported, not fatal.
          log(`${target}-c${connections} failed:`, error);
          results.push({ id: `${target}-c${connections}`, target, connections, failed: String(error) });
          for (const child of [...children]) await stop(child).catch(() => undefined);
        }
      }
    writeFileSync(join(outDir, 'results.json'), JSON.stringify({ cfg, commit, results }, null, 2));
    const labels = {
      redis: 'Parley, REDIS_ENABLED=true (api + 1 worker)',
      rollback: 'Parley, rollback (REDIS_ENABLED=false)',
    };
    console.log(
      `\nWrite benchmark (sendMessage): ${cfg.sends.toLocaleString('en')} sends per run after max(${cfg.warmupSends}, connections) warm-up sends, closed loop, one owner, one bot, ${cfg.sendsPerConversation} sends per conversation; HEAD ${commit}; ${versions()}\n`,
    );
    console.log(
      '| target | conns (open) | req/s | p50 ms | p95 ms | p99 ms | HTTP codes | 503 | errors | drain ms (peak depth) | rows = 2 × acked | PG commits / message (/ send) | CPU busy (foreign node) |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |');
    for (const r of results) {
      if (r.failed) {
        console.log(
          `| ${labels[r.target]} | ${r.connections} | failed: ${r.failed.slice(0, 120)} | | | | | | | | | | |`,
        );
        continue;
      }
      const codes = Object.entries(r.httpCodes)
        .map(([code, n]) => `${code}: ${n.toLocaleString('en')}`)
        .join(', ');
      const drain =
        r.target === 'redis'
          ? `${r.drainTimedOut ? `> ${cfg.drainTimeoutSeconds * 1000}` : fmt(r.drainMillis, 0)} (${r.peakBufferDepth.toLocaleString('en')})`
          : '– (stored when acknowledged)';
      const rows = `${r.rowsOk ? 'pass' : 'FAIL'}: ${r.rows.stored.toLocaleString('en')} = 2 × ${r.acked.toLocaleString('en')}${r.rowsOk ? '' : ` (expected ${r.rows.expected.toLocaleString('en')})`}`;
      console.log(
        `| ${labels[r.target]} | ${r.connections} (${r.peakSockets}) | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.p99)} | ${codes} | ${r.httpCodes[503] ?? 0} | ${r.errors} | ${drain} | ${rows} | ${fmt(r.commitsPerMessage, 3)} (${fmt(r.commitsPerSend, 3)}) | ${fmt(r.machine.busyPercent, 0)} % (${fmt(r.machine.foreignNodePercent, 0)} %) |`,
      );
    }
    const ok = results.filter((r) => !r.failed);
    for (const r of ok) {
      const notes = [];
      if (!r.botCounter.ok) notes.push(`bots.message_count grew by ${r.botCounter.delta}, rows by ${r.rows.stored}`);
      if (r.pg.rollbacks) notes.push(`${r.pg.rollbacks} PostgreSQL rollbacks`);
      if (r.errors)
        notes.push(`errors by code ${JSON.stringify(r.errorCodes)}; samples ${JSON.stringify(r.errorSamples)}`);
      if (r.lostConversations)
        notes.push(
          `${r.lostConversations} conversations created by an acknowledged send were NOT_FOUND for a later one`,
        );
      if (r.machine.foreignNodePercent > 1)
        notes.push(
          `foreign node processes used ${fmt(r.machine.foreignNodePercent, 0)} % of the machine: ${r.machine.foreignTop.map((p) => `pid ${p.pid} ${fmt(p.percent, 0)} % (${p.cmd})`).join('; ')}`,
        );
      if (r.warmup.errors || !r.warmup.stored) notes.push(`warm-up: ${JSON.stringify(r.warmup)}`);
      if (r.peakSockets < r.connections)
        notes.push(`only ${r.peakSockets} of ${r.connections} sockets were open at once`);
      const h = r.bufferHealth;
      if (h && (h.fallbacks || h.refusedFull || h.deadLetters || h.depth || h.inFlightIntents))
        notes.push(
          `buffer: ${h.fallbacks} fallbacks to PostgreSQL, ${h.refusedFull} refused full, ${h.deadLetters} dead letters, ${h.depth} still pending`,
        );
      for (const [name, s] of Object.entries(r.logs))
        for (const [line, n] of Object.entries(s.lines)) notes.push(`${name} log: ${n} × ${line}`);
      console.log(`\n${r.id}: ${notes.length ? notes.join('\n  ') : 'no errors, no warnings in the api/worker logs'}`);
    }
    console.log(
      `\nStatuses of acknowledged sends: ${ok.map((r) => `${r.id} ${JSON.stringify(r.statuses)}`).join(', ')}. PG commits: xact_commit delta from before the measured sends until the run's processes exited (drain, flushes and the worker's own polling included), less this script's ${ok.map((r) => r.pg.ownProbeTransactions).join('/')} probe transactions, ÷ messages stored (2 per send).`,
    );
    if (ok.some((r) => r.machine.foreignNodePercent > 5))
      console.log(
        '\nWARNING: other node processes (a test run?) used the CPU during a measured run: the figures are skewed.',
      );
    console.log(`\nFull results and the api/worker logs: ${outDir}`);
    if (results.some((r) => r.failed || !r.rowsOk)) process.exitCode = 1;
  } catch (error) {
    log('failed:', error);
    process.exitCode = 1;
  } finally {
    await cleanOnce();
  }
}
