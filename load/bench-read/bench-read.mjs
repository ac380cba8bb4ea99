// The read benchmark of issue 6, run by load/bench-read.sh: seeds a fresh database, then
// measures three targets one after another with the same load, and cleans up.
//   (a) Parley with REDIS_ENABLED=true (its own REDIS_KEY_PREFIX), NODE_ENV=production
//   (b) Parley in rollback mode, REDIS_ENABLED=false
//   (c) the peer: Apollo Server 5 + Fastify + the whole-response cache over Redis (load/peers/response-cache-peer.mjs)
// Each run: WARMUP_SECONDS of load, then DURATION_SECONDS measured. Reported per target:
// req/s, p50/p95/p99, PostgreSQL transactions per read (xact_commit + xact_rollback delta of
// the benchmark database over the measured window, divided by measured load requests),
// cache hit rate (Parley's /health/cache delta over the window), and stale reads.
//
// Everything it starts it stops by pid; it drops its database and deletes its Redis keys
// (by its own prefixes, SCAN + UNLINK) at the end, also on failure or Ctrl-C.
import { execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildHead, gql, sleep, stop, waitHttp } from '../lib/harness.mjs';
import { TOPICS } from './loadgen.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const loadDir = resolve(here, '..');
const repo = resolve(loadDir, '..');
const env = process.env;
const num = (name, def) => Number(env[name] ?? def);
const cfg = {
  concurrency: num('CONCURRENCY', 100),
  warmupSeconds: num('WARMUP_SECONDS', 10),
  durationSeconds: num('DURATION_SECONDS', 40),
  bots: num('BOTS', 100),
  zipfS: num('ZIPF_S', 1.1),
  updatesPerTick: num('UPDATES_PER_TICK', 3),
  readsPerUpdate: num('READS_PER_UPDATE', 5),
  targets: (env.TARGETS ?? 'redis,rollback,peer').split(','),
  pgAdmin: env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisPort: num('REDIS_PORT', 6379),
  basePort: num('BASE_PORT', 4601),
};
const stamp = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}_${process.pid}`;
const dbName = `parley_bench_read_${stamp.toLowerCase()}`;
const dbUrl = cfg.pgAdmin.replace(/\/[^/]*$/, `/${dbName}`);
const redisUrl = `redis://127.0.0.1:${cfg.redisPort}`;
const prefixes = { redis: `parley-bench-${stamp}-a:`, peer: `parley-bench-${stamp}-peer:` };
const outDir = join(loadDir, 'results', `bench-read-${stamp}`);
mkdirSync(outDir, { recursive: true });

const children = new Set();
let buildDir;
let dbCreated = false;
const log = (...a) => console.error(`[bench-read ${new Date().toISOString().slice(11, 19)}]`, ...a);

function start(name, cmd, args, extraEnv, cwd = repo) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.name = name;
  child.tail = () => stderr;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function redisDeletePrefix(prefix) {
  // SCAN + UNLINK of this run's own prefix; never FLUSHALL/FLUSHDB (the Redis is shared).
  const keys = execFileSync('redis-cli', ['-p', String(cfg.redisPort), '--scan', '--pattern', `${prefix}*`], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean);
  for (let i = 0; i < keys.length; i += 500)
    execFileSync('redis-cli', ['-p', String(cfg.redisPort), 'UNLINK', ...keys.slice(i, i + 500)]);
  return keys.length;
}

async function cleanup() {
  for (const child of [...children]) await stop(child).catch(() => undefined);
  if (dbCreated) {
    try {
      const admin = new pg.Client({ connectionString: cfg.pgAdmin });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
      log(`dropped database ${dbName}`);
    } catch (error) {
      log(`could not drop ${dbName}: ${error}`);
    }
  }
  for (const prefix of Object.values(prefixes)) {
    try {
      log(`deleted ${redisDeletePrefix(prefix)} Redis keys under ${prefix}`);
    } catch (error) {
      log(`could not delete keys under ${prefix}: ${error}`);
    }
  }
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
  buildDir = buildHead('bench', log);
  return join(buildDir, 'dist');
}

const parleyEnv = (port, redis) => ({
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  HOST: '127.0.0.1',
  PORT: String(port),
  DATABASE_URL: dbUrl,
  REDIS_URL: redisUrl,
  REDIS_ENABLED: redis ? 'true' : 'false',
  REDIS_KEY_PREFIX: redis ? prefixes.redis : 'parley-bench-unused:',
  // One owner reads far beyond the per-user limits on purpose: the limits are measured apart
  // (make bench-limits), off here as in the figures before they existed.
  RATE_LIMIT_ENABLED: 'false',
  // All connections come from 127.0.0.1 (production caps connections per address).
  HTTP_MAX_CONNECTIONS_PER_IP: '0',
});

async function seed(dist) {
  const admin = new pg.Client({ connectionString: cfg.pgAdmin });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  dbCreated = true;
  log(`created ${dbName}; migrating`);
  execFileSync(join(repo, 'node_modules/.bin/tsx'), ['src/cli/migrate.ts', 'latest'], {
    cwd: repo,
    env: { ...env, DATABASE_URL: dbUrl, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const port = cfg.basePort + 9;
  const origin = `http://127.0.0.1:${port}`;
  const api = start('seed-api', process.execPath, [join(dist, 'src/main.js')], parleyEnv(port, false));
  const worker = start('seed-worker', process.execPath, [join(dist, 'worker/main.js')], {
    ...parleyEnv(port + 1, false),
    INGEST_CONCURRENCY: '4',
    INGEST_POLL_MILLIS: '200',
  });
  await waitHttp(`${origin}/health/db`, api);
  const email = `bench-${stamp.toLowerCase()}@example.com`;
  const password = `Bench-${randomBytes(12).toString('hex')}`;
  const { signUp } = await gql(origin, 'mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }', {
    i: { email, password, name: 'Bench Owner' },
  });
  const token = signUp.token;
  const botIds = [];
  for (let i = 0; i < cfg.bots; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, cfg.bots - i) }, (_, j) =>
        gql(
          origin,
          'mutation($i: CreateBotInput!) { createBot(input: $i) { id } }',
          { i: { name: `Bench bot ${i + j + 1}`, description: `Bot number ${i + j + 1} of the read benchmark` } },
          token,
        ),
      ),
    );
    botIds.push(...batch.map((b) => b.createBot.id));
  }
  for (let i = 0; i < botIds.length; i += 10) {
    await Promise.all(
      botIds
        .slice(i, i + 10)
        .flatMap((botId) =>
          TOPICS.map((text, k) =>
            gql(
              origin,
              'mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }',
              { i: { botId, kind: 'TEXT', title: `Source ${k + 1}`, text } },
              token,
            ),
          ),
        ),
    );
  }
  log(
    `signed up ${email}, ${botIds.length} bots, ${botIds.length * TOPICS.length} TEXT sources; waiting for ingestion`,
  );
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  for (let i = 0; ; i++) {
    const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM sources GROUP BY status`);
    const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    if ((by.READY ?? 0) + (by.FAILED ?? 0) === botIds.length * TOPICS.length) {
      if (by.FAILED) throw new Error(`${by.FAILED} sources FAILED`);
      break;
    }
    if (i > 600) throw new Error(`ingestion not done after 120 s: ${JSON.stringify(by)}`);
    await sleep(200);
  }
  await db.end();
  await stop(worker);
  await stop(api);
  writeFileSync(join(outDir, 'token-postgres.txt'), token);
  writeFileSync(join(outDir, 'bots.json'), JSON.stringify(botIds));
  writeFileSync(join(outDir, 'owner.json'), JSON.stringify({ email, password }));
  log('seed done');
  return { email, password };
}

async function pgStats() {
  const c = new pg.Client({ connectionString: cfg.pgAdmin });
  await c.connect();
  const { rows } = await c.query(
    'SELECT xact_commit::bigint AS c, xact_rollback::bigint AS r FROM pg_stat_database WHERE datname = $1',
    [dbName],
  );
  await c.end();
  return Number(rows[0].c) + Number(rows[0].r);
}

/** CPU jiffies of the whole machine (busy, total) and of processes that are not this run's. */
function cpuSample() {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // Other people's test runs on the same cores skew the figures: count busy jiffies of
  // node processes that are not ours (not this script, the target or the load generator).
  const ours = new Set([process.pid, ...[...children].map((c) => c.pid)]);
  let foreign = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (ours.has(Number(pid))) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!/node|jest|tsx|npm/.test(comm)) continue;
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      foreign += Number(rest[11]) + Number(rest[12]);
    } catch {
      // the process ended while we read it
    }
  }
  return { busy: total - f[3] - f[4], total, foreign };
}

async function cacheCounts(origin) {
  const res = await fetch(`${origin}/health/cache`).then((r) => r.json());
  if (!res.enabled) return null;
  return {
    l1Hits: res.total.l1.hits,
    l1Misses: res.total.l1.misses,
    redisHits: res.total.redis.hits,
    redisMisses: res.total.redis.misses,
    families: res.families,
  };
}

async function runTarget(name, dist, owner) {
  const port = cfg.basePort + ['redis', 'rollback', 'peer'].indexOf(name);
  const origin = `http://127.0.0.1:${port}`;
  let child;
  if (name === 'peer') {
    child = start(
      'peer',
      process.execPath,
      [join(loadDir, 'peers/response-cache-peer.mjs')],
      {
        PORT: String(port),
        DATABASE_URL: dbUrl,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefixes.peer,
        PARLEY_DIST: dist,
      },
      loadDir,
    );
    await waitHttp(`${origin}/health`, child);
  } else {
    // e.g. TARGET_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the measured Parley targets.
    const nodeArgs = (env.TARGET_NODE_ARGS ?? '').split(' ').filter(Boolean);
    child = start(name, process.execPath, [...nodeArgs, join(dist, 'src/main.js')], parleyEnv(port, name === 'redis'));
    await waitHttp(`${origin}/health/db`, child);
  }
  // With REDIS_ENABLED=true sessions live in Redis: log in through the target for a token it knows.
  let tokenFile = join(outDir, 'token-postgres.txt');
  if (name === 'redis') {
    const { logIn } = await gql(
      origin,
      'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }',
      {
        e: owner.email,
        p: owner.password,
      },
    );
    tokenFile = join(outDir, 'token-redis.txt');
    writeFileSync(tokenFile, logIn.token);
  }
  log(`${name}: ${cfg.warmupSeconds}s warm-up + ${cfg.durationSeconds}s measured at c=${cfg.concurrency}`);
  const gen = fork(join(here, 'loadgen.mjs'), [], {
    cwd: loadDir,
    env: {
      ...env,
      LOADGEN_CONFIG: JSON.stringify({
        origin,
        tokenFile,
        botsFile: join(outDir, 'bots.json'),
        concurrency: cfg.concurrency,
        warmupSeconds: cfg.warmupSeconds,
        durationSeconds: cfg.durationSeconds,
        zipfS: cfg.zipfS,
        updatesPerTick: cfg.updatesPerTick,
        readsPerUpdate: cfg.readsPerUpdate,
        label: name,
      }),
    },
  });
  children.add(gen);
  gen.on('exit', () => children.delete(gen));
  const marks = {};
  const result = await new Promise((resolveResult, reject) => {
    gen.on('message', async (m) => {
      try {
        if (m.event === 'measure-start')
          marks.start = { cpu: cpuSample(), pg: await pgStats(), cache: await cacheCounts(origin) };
        if (m.event === 'measure-end') {
          // pg_stat_database gets a backend's counts when it goes idle (at most once a
          // second), and Parley's cache counts reach Redis every second: wait for both.
          const cpu = cpuSample();
          await sleep(2000);
          marks.end = { cpu, pg: await pgStats(), cache: await cacheCounts(origin) };
        }
        if (m.event === 'result') {
          while (!marks.end) await sleep(100);
          resolveResult(m.result);
        }
      } catch (error) {
        reject(error);
      }
    });
    gen.on('exit', (code) => code !== 0 && reject(new Error(`loadgen exited ${code}`)));
  });
  await stop(child);
  const xacts = marks.end.pg - marks.start.pg;
  let cache = null;
  if (marks.start.cache && marks.end.cache) {
    const d = (k) => marks.end.cache[k] - marks.start.cache[k];
    const lookups = d('l1Hits') + d('redisHits') + d('redisMisses');
    cache = {
      l1Hits: d('l1Hits'),
      l1Misses: d('l1Misses'),
      redisHits: d('redisHits'),
      redisMisses: d('redisMisses'),
      l1HitRate: d('l1Hits') / (d('l1Hits') + d('l1Misses') || 1),
      // Lookups answered without PostgreSQL (L1 or Redis), of all lookups.
      hitRate: lookups ? (d('l1Hits') + d('redisHits')) / lookups : null,
      families: Object.fromEntries(
        Object.entries(marks.end.cache.families).map(([f, v]) => {
          const s = marks.start.cache.families[f];
          return [
            f,
            {
              l1: v.l1.hits - s.l1.hits + '/' + (v.l1.misses - s.l1.misses),
              redis: v.redis.hits - s.redis.hits + '/' + (v.redis.misses - s.redis.misses),
            },
          ];
        }),
      ),
    };
  }
  const cpuTotal = marks.end.cpu.total - marks.start.cpu.total;
  const machine = {
    busyPercent: (100 * (marks.end.cpu.busy - marks.start.cpu.busy)) / cpuTotal,
    // Only processes alive at both samples count; a foreign run that starts or ends mid-window shows partly.
    foreignNodePercent: (100 * Math.max(0, marks.end.cpu.foreign - marks.start.cpu.foreign)) / cpuTotal,
  };
  return { target: name, ...result, xacts, xactsPerRead: xacts / result.requests, cache, machine };
}

const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

try {
  const dist = build();
  const owner = await seed(dist);
  const results = [];
  for (const target of cfg.targets) {
    results.push(await runTarget(target, dist, owner));
    await sleep(1000);
  }
  writeFileSync(join(outDir, 'results.json'), JSON.stringify({ cfg, results }, null, 2));
  const labels = {
    redis: 'Parley, REDIS_ENABLED=true',
    rollback: 'Parley, rollback (REDIS_ENABLED=false)',
    peer: 'peer: Apollo + response cache (Redis)',
  };
  const peer = results.find((r) => r.target === 'peer');
  console.log(
    `\nRead benchmark: c=${cfg.concurrency}, ${cfg.warmupSeconds}s warm-up + ${cfg.durationSeconds}s measured per target, Zipf(${cfg.zipfS}) over ${cfg.bots} bots\n`,
  );
  console.log(
    '| target | requests | req/s | vs peer | p50 ms | p95 ms | p99 ms | errors | PG xacts/read | cache hit rate (L1) | stale reads / checked | CPU busy (foreign node) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const hit = r.cache ? `${fmt(r.cache.hitRate * 100)} % (${fmt(r.cache.l1HitRate * 100)} %)` : '–';
    console.log(
      `| ${labels[r.target]} | ${r.requests.toLocaleString('en')} | ${fmt(r.rps, 0)} | ${peer ? fmt(r.rps / peer.rps, 2) + '×' : '–'} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.p99)} | ${r.errors} | ${fmt(r.xactsPerRead, 3)} | ${hit} | ${r.stale.staleReads} / ${r.stale.reads} (${r.stale.updates} updates${r.stale.updateErrors ? `, ${r.stale.updateErrors} failed` : ''}) | ${fmt(r.machine.busyPercent, 0)} % (${fmt(r.machine.foreignNodePercent, 0)} %) |`,
    );
  }
  if (results.some((r) => r.machine.foreignNodePercent > 5))
    console.log(
      '\nWARNING: other node processes (a test run?) used the CPU during a measured window: the figures are skewed.',
    );
  for (const r of results) if (r.errorSamples.length) console.log(`\n${r.target} error samples:`, r.errorSamples);
  console.log(`\nFull results: ${join(outDir, 'results.json')}`);
} catch (error) {
  log('failed:', error);
  process.exitCode = 1;
} finally {
  await cleanOnce();
}
