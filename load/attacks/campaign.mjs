#!/usr/bin/env node
// The attack campaign of issue 15: for each of its rows 1–10, a fresh production instance of a
// built tree (its own PostgreSQL database migrated by the tree's own migrations, its own
// redis-server with appendonly yes and noeviction, `node dist/src/main.js` and
// `node dist/worker/main.js` with NODE_ENV=production and the row's settings), then
// `replay.mjs --only <its attack>`, then everything stopped by pid and the database dropped.
// Prints (and with --out writes) a table: row | what one client did | what happened.
// Loopback only; resolves no names. About 8–10 minutes on 2 busy cores. See README.md.
//
//   node load/attacks/campaign.mjs --dist /tmp/parley-before --out /tmp/issue15-before.md
//   node load/attacks/campaign.mjs --dist /tmp/parley-now --rows 3,8
//
// Needs redis-server and psql on the PATH and PostgreSQL (with pgvector) on 127.0.0.1:5432.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stop, waitHttp } from '../lib/harness.mjs';
import { freePort, redisServer, startLogged } from '../lib/processes.mjs';
import { psql, sqlIdentifier } from './tools.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const USAGE = `Usage: node load/attacks/campaign.mjs --dist <tree> [--rows 1-10] [--out <file.md>] [--label <name>]

  --dist      a built tree: <tree>/dist/src/main.js, dist/worker/main.js and
              dist/src/cli/migrate.js (npm run build), run as they are
  --rows      issue 15's rows to run, e.g. 1,3 or 8-10 (default 1-10)
  --out       also write the table (Markdown) to this file
  --label     the run's name in the table's title (default: the tree's folder name)
  --pg-admin  PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
  --logs      folder for every process' log (default: a new one under ${tmpdir()})`;

const { values: args } = parseArgs({
  options: {
    dist: { type: 'string' },
    rows: { type: 'string', default: '1-10' },
    out: { type: 'string' },
    label: { type: 'string' },
    'pg-admin': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    logs: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help || !args.dist) {
  console.log(USAGE);
  process.exit(args.help ? 0 : 2);
}

const tree = resolve(existsSync(join(args.dist, 'dist', 'src', 'main.js')) ? args.dist : join(args.dist, '..'));
const built = (...path) => join(tree, 'dist', ...path);
if (!existsSync(built('src', 'main.js')) || !existsSync(built('worker', 'main.js'))) {
  console.error(`${tree} has no dist/src/main.js and dist/worker/main.js: run npm run build there first`);
  process.exit(2);
}
const pgAdmin = args['pg-admin'];
const logDir = args.logs ? resolve(args.logs) : mkdtempSync(join(tmpdir(), 'parley-campaign-'));
mkdirSync(logDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').toLowerCase();
const log = (...parts) => console.error(`[campaign ${new Date().toISOString().slice(11, 19)}]`, ...parts);

/** The load profile's raised limits (load/artillery/profile.env): rows 8 and 9 send far beyond one owner's minute on purpose. */
const RAISED_LIMITS = Object.fromEntries(
  readFileSync(join(here, '..', 'artillery', 'profile.env'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=', 2)),
);

/**
 * One instance per entry: the row of issue 15, the attack of replay.mjs, what the one client
 * does, and the instance's settings (env, node flags of the api, replay flags).
 */
const RUNS = [
  {
    row: 1,
    attack: 16,
    what: '4,100 sockets from one address, `POST /graphql` headers with `Content-Length: 100000`, no body',
  },
  {
    row: 2,
    sub: 'a',
    attack: 17,
    what: '`startWidgetSession(publicKey: <4 MB>)`, each distinct; rollback mode, api heap 512 MB',
    env: { REDIS_ENABLED: 'false' },
    apiFlags: ['--max-old-space-size=512'],
    replay: ['--count', '400'],
  },
  {
    row: 2,
    sub: 'b',
    attack: 17,
    what: 'the same, 80 requests; rollback mode, default heap; memory read again after 30 s idle',
    env: { REDIS_ENABLED: 'false' },
    replay: ['--count', '80', '--settle', '30'],
  },
  // Redis' window keys expire with the window (60 s): 50 requests show what one window holds.
  { row: 2, sub: 'c', attack: 17, what: 'the same, 50 requests; Redis mode', replay: ['--count', '50'] },
  {
    row: 3,
    attack: 18,
    what: '20 invalid `signUp`s from each of 3 addresses (`RATE_LIMIT_GLOBAL_PER_MIN=50`, `RATE_LIMIT_IP_PER_MIN=20`), then widget chat from a 4th',
    env: { RATE_LIMIT_GLOBAL_PER_MIN: '50', RATE_LIMIT_IP_PER_MIN: '20' },
  },
  {
    row: 4,
    attack: 19,
    what: "110 wrong `logIn`s for someone else's e-mail, then that owner's correct one from elsewhere",
  },
  {
    row: 5,
    attack: 20,
    what: '40 concurrent wrong-password `logIn`s; meanwhile another address logs in and gets `/widget.js`',
  },
  {
    row: 6,
    attack: 21,
    what: '`messageStatuses(ids)` with 1,200,000 ids over 3 connections; 2,000,000-deep arrays; 300,000-key objects; 300,000 undeclared variables',
  },
  { row: 7, attack: 22, what: 'distinct `search(limit: 50)` from one free owner, 4 connections; then random bot ids' },
  {
    row: 8,
    attack: 23,
    what: 'sends with the worker stopped, Redis filled to `maxmemory` (noeviction), worker restarted',
    env: RAISED_LIMITS,
  },
  {
    row: 9,
    attack: 24,
    what: 'sends while PostgreSQL refuses connections for 15 s (`ALLOW_CONNECTIONS false` + terminate)',
    env: RAISED_LIMITS,
  },
  {
    row: 10,
    attack: 25,
    what: 'requests and sockets from many addresses of one IPv6 /64 (`TRUSTED_PROXIES=127.0.0.1`, `X-Forwarded-For`)',
    env: { TRUSTED_PROXIES: '127.0.0.1' },
  },
];

function parseRows(text) {
  const rows = new Set();
  for (const part of text.split(',')) {
    const [from, to = from] = part.split('-').map((n) => Number(n.trim()));
    for (let n = from; n <= to; n += 1) rows.add(n);
  }
  return rows;
}

/** Everything alive that a clean-up must end: processes (by pid) and databases. */
const live = { children: new Set(), databases: new Set() };

/** Starts a process in the tree with its output in <logDir>/<name>.log (`tail()` for `waitHttp`); ended by the clean-up. */
function start(name, command, commandArgs, env) {
  const child = startLogged(name, command, commandArgs, { cwd: tree, env, logFile: join(logDir, `${name}.log`) });
  live.children.add(child);
  child.on('exit', () => live.children.delete(child));
  return child;
}

/** Runs replay.mjs for one attack; answers its @@control steps; resolves with its SUMMARY and output. */
function runReplay(run, instance) {
  const replayArgs = [
    '--experimental-websocket',
    '--no-warnings',
    join(here, 'replay.mjs'),
    '--url',
    instance.url,
    '--only',
    String(run.attack),
    '--pid',
    String(instance.api.pid),
    '--redis',
    instance.redisUrl,
    '--db',
    instance.dbUrl,
    '--pg-admin',
    pgAdmin,
    '--control',
    ...(run.replay ?? []),
  ];
  const child = spawn(process.execPath, replayArgs, { cwd: here, stdio: ['pipe', 'pipe', 'inherit'] });
  live.children.add(child);
  const lines = [];
  let summary;
  const limit = setTimeout(() => {
    lines.push('(campaign: replay did not finish in 8 minutes; killed)');
    child.kill('SIGKILL');
  }, 8 * 60_000);
  createInterface({ input: child.stdout }).on('line', async (line) => {
    const match = /^SUMMARY \d+: (.*)$/.exec(line);
    if (match) summary = match[1];
    const step = /^@@control (\S+)/.exec(line)?.[1];
    if (!step) {
      lines.push(line);
      console.log(`  ${line}`);
      return;
    }
    try {
      if (step === 'worker-stop') {
        await stop(instance.worker);
      } else if (step === 'worker-start') {
        instance.worker = instance.startWorker();
      } else {
        throw new Error(`unknown step ${step}`);
      }
      log(`${step}: done`);
      child.stdin.write('ok\n');
    } catch (error) {
      child.stdin.write(`failed: ${error.message}\n`);
    }
  });
  return new Promise((done) => {
    child.on('exit', (code) => {
      clearTimeout(limit);
      live.children.delete(child);
      done({ summary, lines, code });
    });
  });
}

/** What the processes' logs add to the table: a dead api, the worker's OOM errors. */
function processNotes(instance) {
  const notes = [];
  const { api } = instance;
  if (api.exitCode !== null || api.signalCode !== null) {
    const tail = api.tail();
    const heap = /heap out of memory|Reached heap limit/i.test(tail);
    notes.push(
      `api exited (${api.signalCode ?? `code ${api.exitCode}`}${heap ? ', JavaScript heap out of memory' : ''})`,
    );
  }
  const oom = instance.workers
    .map(
      (worker) =>
        readFileSync(worker.logFile, 'utf8')
          .split('\n')
          .filter((line) => line.includes('OOM command not allowed')).length,
    )
    .reduce((sum, n) => sum + n, 0);
  if (oom) notes.push(`worker logs: ${oom} lines "OOM command not allowed"`);
  return notes;
}

async function runOne(run) {
  const id = `${run.row}${run.sub ?? ''}`;
  const dbName = `parley_attack_${id}_${stamp}`;
  const dbUrl = pgAdmin.replace(/\/[^/]*$/, `/${dbName}`);
  const [apiPort, redisPort] = [await freePort(), await freePort()];
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const started = Date.now();
  const instance = { url: `http://127.0.0.1:${apiPort}`, redisUrl, dbUrl, workers: [] };
  // appendonly yes and noeviction (redisServer's own), in a temporary folder that stop() removes.
  const redis = redisServer({ port: redisPort, name: `row${id}-redis`, start });
  try {
    await redis.up();
    await psql(pgAdmin, `CREATE DATABASE ${sqlIdentifier(dbName)}`);
    live.databases.add(dbName);
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(apiPort),
      DATABASE_URL: dbUrl,
      REDIS_URL: redisUrl,
      REDIS_ENABLED: 'true',
      REDIS_KEY_PREFIX: 'parley:',
      ...run.env,
    };
    // The tree's own migrations, as that build would deploy them.
    execFileSync(process.execPath, [built('src', 'cli', 'migrate.js'), 'latest'], {
      cwd: tree,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    instance.api = start(`row${id}-api`, process.execPath, [...(run.apiFlags ?? []), built('src', 'main.js')], env);
    let workerRuns = 0;
    instance.startWorker = () => {
      const worker = start(
        `row${id}-worker${workerRuns++ ? `-${workerRuns}` : ''}`,
        process.execPath,
        [built('worker', 'main.js')],
        env,
      );
      instance.workers.push(worker);
      return worker;
    };
    instance.worker = instance.startWorker();
    await waitHttp(`${instance.url}/health`, instance.api);
    log(
      `row ${id}: api pid ${instance.api.pid} on ${apiPort}, Redis ${redisPort}, database ${dbName}; attack ${run.attack}`,
    );
    const result = await runReplay(run, instance);
    const notes = processNotes(instance);
    const failed = result.lines.find((line) => /attack could not run/.test(line));
    return {
      id,
      run,
      seconds: (Date.now() - started) / 1000,
      result: [
        result.summary ?? (failed ? failed.replace(/\s+/g, ' ').trim() : `no summary (replay exit ${result.code})`),
        ...notes,
      ].join('; '),
    };
  } catch (error) {
    return { id, run, seconds: (Date.now() - started) / 1000, result: `campaign failed: ${error.message}` };
  } finally {
    for (const child of [instance.api, ...instance.workers]) await stop(child).catch(() => undefined);
    await redis.stop().catch(() => undefined);
    if (live.databases.has(dbName)) {
      await psql(pgAdmin, `DROP DATABASE IF EXISTS ${sqlIdentifier(dbName)} WITH (FORCE)`).catch((error) =>
        log(`could not drop ${dbName}: ${error.message}`),
      );
      live.databases.delete(dbName);
    }
  }
}

async function cleanUp() {
  for (const child of [...live.children]) await stop(child).catch(() => undefined);
  for (const dbName of [...live.databases]) {
    await psql(pgAdmin, `DROP DATABASE IF EXISTS ${sqlIdentifier(dbName)} WITH (FORCE)`).catch(() => undefined);
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    log(`${signal}: stopping this campaign's processes and dropping its databases`);
    await cleanUp();
    process.exit(130);
  });
}

function revision() {
  try {
    const rev = execFileSync('git', ['-C', tree, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', tree, 'status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${rev} + uncommitted changes` : rev;
  } catch {
    return 'no git revision';
  }
}

const cell = (text) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

async function main() {
  const rows = parseRows(args.rows);
  const runs = RUNS.filter((run) => rows.has(run.row));
  const label = args.label ?? tree.split('/').at(-1);
  log(`${runs.length} instances of ${tree} (${revision()}); logs in ${logDir}`);
  const campaignStarted = Date.now();
  const results = [];
  for (const run of runs) {
    console.log(`\n== row ${run.row}${run.sub ?? ''} (attack ${run.attack}): ${run.what}`);
    const result = await runOne(run);
    results.push(result);
    log(`row ${result.id}: ${result.seconds.toFixed(0)} s`);
  }
  const lines = [
    `# Issue 15 attack campaign: ${label}`,
    '',
    `Tree \`${tree}\` (${revision()}); ${new Date().toISOString()}; ${cpus().length} CPUs, load average ` +
      `${loadavg()
        .map((n) => n.toFixed(1))
        .join(' ')} at the end; Node ${process.version}. Each row on its own instance: \`node dist/src/main.js\` + ` +
      '`node dist/worker/main.js`, NODE_ENV=production, its own database and its own `redis-server --appendonly yes ' +
      '--maxmemory-policy noeviction`; the attacker at 127.0.0.1, everyone else at 127.0.0.2 (`load/attacks/replay.mjs`, ' +
      `attacks 16–25). ${((Date.now() - campaignStarted) / 60_000).toFixed(1)} minutes.`,
    '',
    '| # | what one client did | what happened | s |',
    '| --- | --- | --- | ---: |',
    ...results.map((r) => `| ${r.id} | ${cell(r.run.what)} | ${cell(r.result)} | ${r.seconds.toFixed(0)} |`),
    '',
  ];
  const table = lines.join('\n');
  console.log(`\n${table}`);
  if (args.out) {
    writeFileSync(args.out, table);
    log(`table written to ${args.out}`);
  }
  log(`process logs: ${logDir}`);
  process.exit(0);
}

await main();
