// The load harness every benchmark and the fault campaign run on (load/README.md): one run's
// own database, Redis key prefix, results folder, processes, build of HEAD and CPU samples
// (createHarness), with its clean-up; and the small HTTP and process helpers they share.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startLogged } from './processes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const loadDir = resolve(here, '..');
const repo = resolve(loadDir, '..');
// The app's own Redis client (ioredis), from its node_modules: load/ needs no new dependency.
const Redis = createRequire(join(repo, 'package.json'))('ioredis');
const env = process.env;

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
 * The committed code (HEAD) built apart from the work tree, so the shared dist/ and any
 * uncommitted edits are left alone: extracted into a temporary folder and compiled as
 * `npm run build` compiles (scripts/compile.mjs). Returns the folder; its dist/ is the build.
 */
export function buildHead(name, log) {
  const dir = mkdtempSync(join(tmpdir(), `parley-${name}-build-`));
  log(`building HEAD (${head()}) in ${dir}`);
  execFileSync(
    'sh',
    [
      '-c',
      `git -C "${repo}" archive HEAD src worker schema package.json tsconfig.json tsconfig.build.json | tar -x -C "${dir}"`,
    ],
    { stdio: 'inherit' },
  );
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(repo, 'scripts/compile.mjs'), dir], { stdio: 'inherit' });
  return dir;
}

/**
 * One benchmark run's own things, all named after `name` and the run's stamp: its database
 * (`parley_<name>_<stamp>`), its Redis key prefix stem, its results folder, its processes (each
 * with a log file there), its build of HEAD; and the clean-up of all of them (by pid, DROP
 * DATABASE, SCAN + UNLINK of its prefix), also on SIGINT/SIGTERM.
 */
export function createHarness({
  name,
  pgAdmin = env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisPort = Number(env.REDIS_PORT ?? 6379),
}) {
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
  /** The local Redis Cluster's seed nodes (`make cluster`), for the cluster targets. */
  const clusterNodes = (env.PARLEY_CLUSTER_NODES ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003').split(',');
  let cluster;
  /** A client of that cluster, made on first use (only runs with a cluster target need one). */
  async function clusterRedis() {
    if (!cluster) {
      cluster = new Redis.Cluster(
        clusterNodes.map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) })),
        { lazyConnect: true, dnsLookup: (address, callback) => callback(null, address) },
      );
      await cluster.connect();
    }
    return cluster;
  }

  /** Starts a process with its stdout and stderr (pino's JSON lines) in a log file of the run. */
  function start(name, cmd, args, extraEnv, logName) {
    const child = startLogged(name, cmd, args, {
      logFile: join(outDir, `${logName}.log`),
      cwd: repo,
      env: { ...env, ...extraEnv },
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }

  /**
   * SCAN + UNLINK of this run's own keys, in the machine's Redis and, once a cluster target
   * ran, on every master of the cluster (one UNLINK a key: a node refuses one over several
   * slots); never FLUSHALL/FLUSHDB (both are shared).
   */
  async function redisDeletePrefix(prefix) {
    let deleted = 0;
    for (const node of [redis, ...(cluster ? cluster.nodes('master') : [])]) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        for (const [error, count] of (await node.pipeline(keys.map((key) => ['unlink', key])).exec()) ?? []) {
          if (!error) deleted += count;
        }
      } while (cursor !== '0');
    }
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
    cluster?.disconnect();
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
    buildDir = buildHead(name, log);
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
        // Paths inside the repository as it names them: a report is read on other machines.
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .replaceAll('\0', ' ')
          .replaceAll(`${repo}/`, '')
          .trim()
          .slice(0, 100);
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
    name,
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
    clusterNodes,
    clusterRedis,
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

/**
 * A scenario's whole life on its own harness: `body(h)` runs and returns what failed (an empty
 * list when nothing did); the exit status is 1 when something failed or `body` threw, and the
 * harness is cleaned up in every case.
 */
export async function runScenario(options, body) {
  const h = createHarness(options);
  try {
    const failed = await body(h);
    if (failed.length) {
      h.log(`failed: ${failed.join('; ')}`);
      process.exitCode = 1;
    }
  } catch (error) {
    h.log('failed:', error);
    process.exitCode = 1;
  } finally {
    await h.cleanOnce();
  }
}
