// `make bench`: Parley against its rollback mode and against the peers a team would otherwise
// pick, side by side in one run on one fresh database, and a report people can read.
//
// Targets (each started afresh for each run, compiled, NODE_ENV=production, rate limits off):
//   parley        REDIS_ENABLED=true: 1 api + 1 worker (the worker flushes the write buffer)
//   parley-2api   the same with 2 api instances; the load is split evenly between them
//   rollback      REDIS_ENABLED=false: 1 api, every send one PostgreSQL transaction
//   peer-direct, peer-bullmq (+ its worker), peer-floor, peer-response-cache: load/peers/
//
// Phases:
//   throughput  THROUGHPUT_SENDS sendMessage from THROUGHPUT_CONNECTIONS (100) closed-loop
//            clients, every write target: sends/s (the ratios against the peers) and cost
//   writes   SENDS sendMessage from CONNECTIONS simultaneous connections (10,000 and 10,000 in
//            full) for Parley and rollback, then SENDS_BIG (50,000) from as many for Parley
//            (BIG_TARGETS; rollback too when asked, about 5 more minutes): errors, rows
//            after the drain = 2 × acknowledged, drain time, PostgreSQL transactions and rows
//            written per stored message (process start to exit)
//   reads    closed loop, READ_CONNECTIONS clients, owner reads (bot, sources, search; Zipf
//            over the bots): req/s, hit rate, PostgreSQL transactions per read
//   mixed    open-model arrivals at MIXED_RATE for MIXED_SECONDS, 70 % reads and 30 % sends:
//            p50/p95/p99 overall, by kind and per second
//   overload sends at OVERLOAD_FACTOR × the target's measured capacity for OVERLOAD_SECONDS:
//            status codes, Retry-After, recovery
// Writes load/results/<date>/ (full), <date>-quick/ (QUICK=1) or the run's own folder (SMOKE=1):
// report.md, report.json and SVG charts. Exits 1 when a correctness check fails (a lost or
// doubled row, a 5xx other than 503, a 503/429 without Retry-After); targets missed are reported.
//
// Everything it starts it stops by pid; it drops its database and deletes its Redis keys.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHarness, gql, head, sleep, stop, waitHttp } from '../lib/harness.mjs';
import { bufferHealth, logSummary, waitRows } from '../lib/sends.mjs';
import { renderCharts } from './charts.mjs';
import { closedLoop, openLoop } from './loadgen.mjs';
import { checks, renderReport } from './report.mjs';
import { reader as ownerReader, seedOwner, sender as chatSender } from './fixtures.mjs';

const env = process.env;
const mode = env.SMOKE === '1' ? 'smoke' : env.QUICK === '1' ? 'quick' : 'full';
const num = (name, full, quick, smoke) => Number(env[name] ?? { full, quick, smoke }[mode]);
const list = (name, full, quick = full, smoke = quick) => (env[name] ?? { full, quick, smoke }[mode]).split(',');
const cfg = {
  mode,
  bots: num('BOTS', 50, 10, 3),
  throughputSends: num('THROUGHPUT_SENDS', 10_000, 2_000, 200),
  throughputConnections: num('THROUGHPUT_CONNECTIONS', 100, 100, 20),
  sends: num('SENDS', 10_000, 2_000, 200),
  connections: num('CONNECTIONS', 10_000, 1_000, 100),
  sendsBig: num('SENDS_BIG', 50_000, 0, 0),
  writeTargets: list('WRITE_TARGETS', 'parley,parley-2api,rollback,peer-direct,peer-bullmq,peer-floor'),
  burstTargets: list('BURST_TARGETS', 'parley,parley-2api,rollback'),
  /** Rollback mode takes about 5 minutes for 50,000 from 10,000 connections here: BIG_TARGETS=parley,parley-2api,rollback. */
  bigTargets: list('BIG_TARGETS', 'parley,parley-2api'),
  warmupSends: num('WARMUP_SENDS', 500, 200, 50),
  sendsPerConversation: num('SENDS_PER_CONVERSATION', 5, 5, 5),
  readTargets: list('READ_TARGETS', 'parley,rollback,peer-response-cache'),
  readConnections: num('READ_CONNECTIONS', 100, 50, 10),
  readWarmupSeconds: num('READ_WARMUP_SECONDS', 5, 1, 1),
  readSeconds: num('READ_SECONDS', 15, 3, 2),
  zipfS: num('ZIPF_S', 1.1, 1.1, 1.1),
  mixedTargets: list('MIXED_TARGETS', 'parley,rollback'),
  mixedRate: num('MIXED_RATE', 300, 200, 50),
  mixedWarmupSeconds: num('MIXED_WARMUP_SECONDS', 5, 1, 1),
  mixedSeconds: num('MIXED_SECONDS', 40, 6, 3),
  overloadTargets: list('OVERLOAD_TARGETS', 'parley,rollback', 'parley'),
  overloadFactor: num('OVERLOAD_FACTOR', 3, 3, 3),
  overloadSeconds: num('OVERLOAD_SECONDS', 60, 4, 3),
  overloadConnections: num('OVERLOAD_CONNECTIONS', 10_000, 2_000, 200),
  /** How long after the overload the probes may take to see the api answer well again. */
  recoverySeconds: num('RECOVERY_SECONDS', 30, 15, 10),
  drainTimeoutSeconds: num('DRAIN_TIMEOUT_SECONDS', 300, 120, 60),
  requestTimeoutSeconds: num('REQUEST_TIMEOUT_SECONDS', 120, 60, 30),
  basePort: num('BASE_PORT', 4641, 4641, 4661),
};
const started = Date.now();
const date = new Date().toISOString().slice(0, 10);
const h = createHarness({ name: `bench-${mode}` });
const { log, start } = h;
const reportDir =
  mode === 'full'
    ? resolve(h.outDir, '..', date)
    : mode === 'quick'
      ? resolve(h.outDir, '..', `${date}-quick`)
      : h.outDir;

// Ports (BASE_PORT 4641): parley 4641-4642 (its worker 4651), rollback 4643, peers 4645-4648, seeding 4649-4650.
const PEERS = {
  'peer-direct': { file: 'direct-insert-peer.mjs', port: 4, label: 'Peer: Apollo 5 + Fastify, INSERT per send' },
  'peer-bullmq': {
    file: 'bullmq-peer.mjs',
    worker: 'bullmq-worker.mjs',
    port: 5,
    label: 'Peer: Apollo 5 + Fastify + BullMQ write-behind',
  },
  'peer-floor': { file: 'floor-peer.mjs', port: 6, label: 'Peer: Apollo 5 + Fastify, no I/O (floor)' },
  'peer-response-cache': {
    file: 'response-cache-peer.mjs',
    port: 7,
    label: 'Peer: Apollo 5 + Fastify + response cache (Redis)',
  },
};
const LABELS = {
  parley: 'Parley, Redis on (1 api + worker)',
  'parley-2api': 'Parley, Redis on (2 apis + worker)',
  rollback: 'Parley, rollback (REDIS_ENABLED=false)',
  ...Object.fromEntries(Object.entries(PEERS).map(([k, v]) => [k, v.label])),
};

let runNo = 0;

/** Starts a target afresh: its processes, its own Redis key prefix, a token it accepts. */
async function startTarget(name, dist, owner) {
  const id = `${name}-${++runNo}`;
  const prefix = `${h.prefixStem}${id}:`;
  const peer = PEERS[name];
  if (peer) {
    const port = cfg.basePort + peer.port;
    const peerEnv = {
      PORT: String(port),
      DATABASE_URL: h.dbUrl,
      REDIS_URL: h.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      PARLEY_DIST: dist,
    };
    const peerFile = (file) => fileURLToPath(new URL(`../peers/${file}`, import.meta.url));
    const worker =
      peer.worker && start(`${id}-worker`, process.execPath, [peerFile(peer.worker)], peerEnv, `${id}-worker`);
    const api = start(id, process.execPath, [peerFile(peer.file)], peerEnv, id);
    const origin = `http://127.0.0.1:${port}`;
    await waitHttp(`${origin}/health`, api);
    return {
      id,
      name,
      prefix,
      origins: [origin],
      token: owner.postgresToken,
      processes: [api, worker].filter(Boolean),
    };
  }
  const redis = name !== 'rollback';
  const apis = name === 'parley-2api' ? 2 : 1;
  const ports = redis ? Array.from({ length: apis }, (_, i) => cfg.basePort + i) : [cfg.basePort + 2];
  const worker =
    redis &&
    start(
      `${id}-worker`,
      process.execPath,
      [join(dist, 'worker/main.js')],
      h.parleyEnv(ports[0] + 10, prefix),
      `${id}-worker`,
    );
  const processes = ports.map((port, i) =>
    start(
      `${id}-api${i}`,
      process.execPath,
      [join(dist, 'src/main.js')],
      h.parleyEnv(port, redis ? prefix : undefined),
      `${id}-api${i}`,
    ),
  );
  const origins = ports.map((port) => `http://127.0.0.1:${port}`);
  for (const [i, origin] of origins.entries()) await waitHttp(`${origin}/health/db`, processes[i]);
  // With Redis on, sessions live in Redis: log in through the target for a token it knows.
  const token = redis
    ? (
        await gql(origins[0], 'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }', {
          e: owner.email,
          p: owner.password,
        })
      ).logIn.token
    : owner.postgresToken;
  return { id, name, prefix, origins, token, redis, processes: [...processes, worker].filter(Boolean) };
}

async function stopTarget(target) {
  for (const child of target.processes) await stop(child);
  const logs = Object.fromEntries(target.processes.map((c) => [c.name, logSummary(c.logFile)]));
  if (target.prefix) await h.redisDeletePrefix(target.prefix);
  return logs;
}

const messageCount = async (db) => (await db.query('SELECT count(*)::int AS n FROM messages'))[0].n;

/**
 * Samples the write buffer every 250 ms while a run lasts: depth, intents being flushed, and the
 * flushed total (its differences are the flush rate). Only for targets with a buffer.
 */
function bufferSampler(target) {
  const samples = [];
  if (!target.redis) return { samples, stop: () => samples };
  const t0 = performance.now();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    const b = await bufferHealth(target.origins[0]);
    busy = false;
    if (b.depth === undefined || b.depth === null) return;
    samples.push({
      t: (performance.now() - t0) / 1000,
      depth: b.depth,
      inFlight: b.inFlightIntents,
      flushed: b.flushedTotal,
    });
  }, 250);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

async function vacuum() {
  const db = await h.probe();
  await db.query('VACUUM ANALYZE');
  await db.end();
}

/** Redis' own counters (INFO): commands processed, keyspace hits and misses, peak memory. */
async function redisStats() {
  const info = await h.redis.info();
  const field = (name) => Number(info.match(new RegExp(`^${name}:(\\d+)`, 'm'))?.[1] ?? NaN);
  return {
    commands: field('total_commands_processed'),
    hits: field('keyspace_hits'),
    misses: field('keyspace_misses'),
    peakMemory: field('used_memory_peak'),
  };
}

/** The kernel's count of connections its accept queues could not hold (all listeners). */
function listenOverflows() {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const names = lines.find((l) => l.startsWith('TcpExt:'))?.split(' ');
  const values = lines.filter((l) => l.startsWith('TcpExt:'))[1]?.split(' ');
  const i = names?.indexOf('ListenOverflows') ?? -1;
  return i > 0 ? Number(values[i]) : null;
}

/**
 * Runs `work(target)` between fresh statistics: PostgreSQL's counters from before the target's
 * processes start until they have all exited (every backend publishes its counts on exit), less
 * this script's own probe transactions; and the rows of `messages` stored meanwhile.
 */
async function measured(name, dist, owner, work) {
  // This machine's PostgreSQL runs with autovacuum off: without a VACUUM the dead versions of
  // the bots' rows (every send updates its bot's counter) slow whichever target runs later.
  await vacuum();
  await h.waitNoBackends();
  const pg0 = await h.pgStats();
  const redis0 = await redisStats();
  const target = await startTarget(name, dist, owner);
  const db = await h.probe();
  try {
    const rows0 = await messageCount(db);
    const cpu0 = h.cpuSample();
    const overflows0 = listenOverflows();
    const result = await work(target, db, rows0);
    const overflows = overflows0 === null ? null : listenOverflows() - overflows0;
    // Other node processes on these cores (someone's test run) skew a run: the report says so.
    const cpu = h.cpuBetween(cpu0, h.cpuSample());
    const rows1 = await messageCount(db);
    const logs = await stopTarget(target);
    await db.end();
    await h.waitNoBackends();
    const pg1 = await h.pgStats();
    const redis1 = await redisStats();
    const stored = rows1 - rows0;
    const transactions = pg1.commits + pg1.rollbacks - pg0.commits - pg0.rollbacks - db.own();
    return {
      id: target.id,
      target: name,
      label: LABELS[name],
      ...result,
      stored,
      cpu,
      listenOverflows: overflows,
      pg: {
        transactions,
        rollbacks: pg1.rollbacks - pg0.rollbacks,
        rowsWritten: pg1.rowsWritten - pg0.rowsWritten,
        rowsFetched: pg1.rowsFetched - pg0.rowsFetched,
        ownProbeTransactions: db.own(),
      },
      // The whole Redis server's counters: the machine's Redis serves only this run meanwhile.
      redis: {
        commands: redis1.commands - redis0.commands,
        keyspaceHits: redis1.hits - redis0.hits,
        keyspaceMisses: redis1.misses - redis0.misses,
        peakMemoryBytes: redis1.peakMemory,
      },
      logs,
    };
  } catch (error) {
    await db.end().catch(() => undefined);
    for (const child of target.processes) await stop(child).catch(() => undefined);
    throw error;
  }
}

/** `total` sends from `connections` connections, after a warm-up; the drain; the cost. */
async function writeRun(name, dist, owner, total, connections, kind = 'writes') {
  log(`writes: ${name}, ${total} sends from ${connections} connections`);
  const r = await measured(name, dist, owner, async (target, db, rows0) => {
    const load = {
      origins: target.origins,
      token: target.token,
      client: chatSender(owner.botIds, cfg.sendsPerConversation),
      timeoutMillis: cfg.requestTimeoutSeconds * 1000,
    };
    const warm = await closedLoop({ ...load, total: cfg.warmupSends, connections: Math.min(100, cfg.warmupSends) });
    const sampler = bufferSampler(target);
    const run = await closedLoop({ ...load, total, connections });
    const noDb = name === 'peer-floor';
    const expected = rows0 + 2 * (warm.acked + run.acked);
    const drain = noDb
      ? { reachedAt: run.lastAck, rows: rows0 }
      : await waitRows(db, expected, cfg.drainTimeoutSeconds);
    // A moment longer: anything stored twice or late shows up in the count.
    await sleep(noDb ? 0 : 1000);
    const buffer = sampler.stop();
    const { timeline, samples: _s, ...summary } = run;
    return {
      kind,
      sends: total,
      connections,
      warmup: { sends: cfg.warmupSends, acked: warm.acked, errors: warm.errors },
      ...summary,
      latencyTimeline: timeline,
      errorSamples: run.samples,
      drainMillis: drain.reachedAt === null ? null : Math.max(0, drain.reachedAt - run.lastAck),
      drainTimedOut: drain.reachedAt === null,
      expectedRows: noDb ? 0 : 2 * (warm.acked + run.acked),
      bufferSamples: buffer,
      peakBufferDepth: buffer.length ? Math.max(...buffer.map((s) => s.depth)) : null,
      bufferHealth: target.redis ? await bufferHealth(target.origins[0]) : null,
    };
  });
  r.rowsOk = r.target === 'peer-floor' ? null : r.stored === r.expectedRows;
  r.transactionsPerMessage = r.stored ? r.pg.transactions / r.stored : null;
  r.rowsWrittenPerMessage = r.stored ? r.pg.rowsWritten / r.stored : null;
  r.redisCommandsPerSend = r.redis.commands / (r.acked + r.warmup.acked);
  log(
    `  ${r.id}: ${Math.round(r.ackedPerSecond)} sends/s, p95 ${Math.round(r.p95)} ms, ${r.gaveUp} errors, ${r.shed.withRetryAfter} retried 503/429, stored ${r.stored}/${r.expectedRows}, ${r.transactionsPerMessage?.toFixed(3) ?? '–'} xacts/message`,
  );
  return r;
}

async function cacheCounts(origin) {
  const res = await fetch(`${origin}/health/cache`).then((r) => r.json());
  return res.enabled ? res : null;
}

/** Hits and misses between two /health/cache answers, overall (L1 or Redis) and by family. */
function cacheDelta(a, b) {
  if (!a || !b) return null;
  const d = (x, y) => ({ hits: y.hits - x.hits, misses: y.misses - x.misses });
  const rate = ({ l1, redis }) => {
    // A lookup is answered without PostgreSQL when L1 or Redis has it; Redis is asked on L1 misses.
    const lookups = l1.hits + redis.hits + redis.misses;
    return lookups ? (l1.hits + redis.hits) / lookups : null;
  };
  const total = { l1: d(a.total.l1, b.total.l1), redis: d(a.total.redis, b.total.redis) };
  const families = Object.fromEntries(
    Object.entries(b.families).map(([f, v]) => {
      const s = a.families[f] ?? { l1: { hits: 0, misses: 0 }, redis: { hits: 0, misses: 0 } };
      const fd = { l1: d(s.l1, v.l1), redis: d(s.redis, v.redis) };
      return [f, { ...fd, hitRate: rate(fd) }];
    }),
  );
  return { ...total, hitRate: rate(total), families };
}

/** Closed-loop owner reads: warm-up, then READ_SECONDS measured; hit rate over the measured window. */
async function readRun(name, dist, owner) {
  log(`reads: ${name}, ${cfg.readConnections} connections, ${cfg.readSeconds} s`);
  const r = await measured(name, dist, owner, async (target) => {
    const next = ownerReader(owner.botIds, cfg.zipfS);
    const load = {
      origins: target.origins,
      token: target.token,
      connections: cfg.readConnections,
      timeoutMillis: cfg.requestTimeoutSeconds * 1000,
      client: () => ({ next, answered: () => undefined }),
    };
    const warm = await closedLoop({ ...load, seconds: cfg.readWarmupSeconds });
    const cache0 = target.redis ? await cacheCounts(target.origins[0]) : null;
    const run = await closedLoop({ ...load, seconds: cfg.readSeconds });
    const cache1 = target.redis ? await cacheCounts(target.origins[0]) : null;
    const { timeline: _timeline, samples, ...summary } = run;
    return {
      kind: 'reads',
      warmupRequests: warm.requests,
      ...summary,
      errorSamples: samples,
      cache: cacheDelta(cache0, cache1),
    };
  });
  const requests = r.requests + r.warmupRequests;
  r.transactionsPerRead = r.pg.transactions / requests;
  r.rowsFetchedPerRead = r.pg.rowsFetched / requests;
  r.redisCommandsPerRead = r.redis.commands / requests;
  log(
    `  ${r.id}: ${Math.round(r.rps)} reads/s, p95 ${Math.round(r.p95)} ms, ${r.errors} errors, hit rate ${r.cache?.hitRate?.toFixed(3) ?? '–'}`,
  );
  return r;
}

/** Open-model arrivals at MIXED_RATE: 70 % owner reads, 30 % sends. */
async function mixedRun(name, dist, owner) {
  log(`mixed: ${name}, ${cfg.mixedRate}/s for ${cfg.mixedSeconds} s`);
  return measured(name, dist, owner, async (target) => {
    const read = ownerReader(owner.botIds, cfg.zipfS);
    const writers = Array.from({ length: 200 }, (_, i) => chatSender(owner.botIds, cfg.sendsPerConversation)(i));
    let w = 0;
    const next = () => {
      if (Math.random() < 0.7) return read();
      // Open model: nothing waits for an answer, so each send starts a conversation.
      return writers[w++ % writers.length].next();
    };
    const load = { origins: target.origins, token: target.token, connections: 2000, next, timeoutMillis: 60_000 };
    await openLoop({ ...load, rate: cfg.mixedRate, seconds: cfg.mixedWarmupSeconds });
    const cache0 = target.redis ? await cacheCounts(target.origins[0]) : null;
    const run = await openLoop({ ...load, rate: cfg.mixedRate, seconds: cfg.mixedSeconds });
    const cache1 = target.redis ? await cacheCounts(target.origins[0]) : null;
    const { samples, ...summary } = run;
    return { kind: 'mixed', ...summary, errorSamples: samples, cache: cacheDelta(cache0, cache1) };
  });
}

/**
 * Sends at OVERLOAD_FACTOR × `capacity` for OVERLOAD_SECONDS; then a probe send every 100 ms
 * until five in a row are answered `ok` within a second (recovered), and the drain.
 */
async function overloadRun(name, dist, owner, capacity) {
  const rate = Math.round(cfg.overloadFactor * capacity);
  log(
    `overload: ${name}, ${rate} sends/s (${cfg.overloadFactor} × ${Math.round(capacity)}) for ${cfg.overloadSeconds} s`,
  );
  const r = await measured(name, dist, owner, async (target, db, rows0) => {
    const writers = Array.from({ length: 1000 }, (_, i) => chatSender(owner.botIds, cfg.sendsPerConversation)(i));
    let w = 0;
    const next = () => writers[w++ % writers.length].next();
    const sampler = bufferSampler(target);
    const run = await openLoop({
      origins: target.origins,
      token: target.token,
      rate,
      seconds: cfg.overloadSeconds,
      connections: cfg.overloadConnections,
      next,
      timeoutMillis: cfg.requestTimeoutSeconds * 1000,
    });
    // Probes start once the last overload answer is in (openLoop waits for it).
    const probeStart = performance.now();
    let streak = 0;
    let probes = 0;
    let probeOk = 0;
    let recoveredAfterMillis = null;
    const probeSender = chatSender(owner.botIds, cfg.sendsPerConversation)(0);
    while (performance.now() - probeStart < cfg.recoverySeconds * 1000) {
      const t0 = performance.now();
      const res = await fetch(`${target.origins[0]}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
        body: probeSender.next().body,
        signal: AbortSignal.timeout(5000),
      }).then(
        async (x) => ({ status: x.status, json: await x.json() }),
        () => ({ status: 0 }),
      );
      probes++;
      const good = res.status === 200 && res.json?.data?.sendMessage && performance.now() - t0 < 1000;
      if (good) probeOk++;
      probeSender.answered(good ? 'ok' : 'error', res.json);
      streak = good ? streak + 1 : 0;
      if (streak === 5) {
        recoveredAfterMillis = performance.now() - probeStart - 4 * 100;
        break;
      }
      await sleep(Math.max(0, 100 - (performance.now() - t0)));
    }
    const okTotal = (run.outcomes.ok ?? 0) + probeOk;
    const drain = await waitRows(db, rows0 + 2 * okTotal, cfg.drainTimeoutSeconds);
    await sleep(1000);
    const { samples, ...summary } = run;
    return {
      kind: 'overload',
      capacity,
      ...summary,
      errorSamples: samples,
      probes,
      probeOk,
      recoveredAfterMillis,
      backlogMillis: run.backlogMillis,
      expectedRows: 2 * okTotal,
      drainTimedOut: drain.reachedAt === null,
      bufferSamples: sampler.stop(),
    };
  });
  r.rowsOk = r.stored === r.expectedRows;
  const c = r.httpCodes;
  r.otherServerErrors = Object.entries(c)
    .filter(([code]) => Number(code) >= 500 && Number(code) !== 503)
    .reduce((n, [, v]) => n + v, 0);
  log(
    `  ${r.id}: ${JSON.stringify(r.httpCodes)}, Retry-After ${JSON.stringify(r.shed)}, recovered after ${r.recoveredAfterMillis === null ? '–' : Math.round(r.recoveredAfterMillis)} ms`,
  );
  return r;
}

function machine() {
  const one = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const loadPkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).dependencies;
  const appPkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).dependencies;
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim(),
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: one('uname', ['-r']),
    node: process.version,
    postgres: one('psql', ['-X', '-A', '-t', h.dbUrl.replace(/\/[^/]*$/, '/postgres'), '-c', 'SHOW server_version']),
    redis: one('redis-cli', ['-u', h.redisUrl, 'INFO', 'server']).match(/redis_version:(\S+)/)?.[1] ?? '?',
    postgresSettings: Object.fromEntries(
      ['max_connections', 'shared_buffers', 'synchronous_commit', 'autovacuum'].map((k) => [
        k,
        one('psql', ['-X', '-A', '-t', h.dbUrl.replace(/\/[^/]*$/, '/postgres'), '-c', `SHOW ${k}`]),
      ]),
    ),
    redisPersistence: one('redis-cli', ['-u', h.redisUrl, 'CONFIG', 'GET', 'appendonly']).split('\n').join(' '),
    libraries: {
      parley: Object.fromEntries(
        [
          '@apollo/server',
          'fastify',
          'graphql',
          'ioredis',
          'knex',
          'pg',
          'dataloader',
          'graphql-redis-subscriptions',
        ].map((k) => [k, appPkg[k]]),
      ),
      peers: Object.fromEntries(['@apollo/server', 'fastify', 'bullmq', 'pg', 'ioredis'].map((k) => [k, loadPkg[k]])),
      charts: { echarts: loadPkg.echarts },
    },
  };
}

try {
  await h.redis.connect();
  const commit = head();
  const dist = h.build();
  const owner = await seedOwner(h, dist, { bots: cfg.bots, port: cfg.basePort + 8, name: 'bench' });
  const results = { throughput: [], writes: [], writesBig: [], reads: [], mixed: [], overload: [] };
  const attempt = async (bucket, name, fn) => {
    try {
      bucket.push(await fn());
    } catch (error) {
      // One failed run (a target that would not start) is reported, not fatal.
      log(`${name} failed:`, error);
      bucket.push({ target: name, label: LABELS[name], failed: String(error).slice(0, 500) });
      for (const child of [...h.children]) await stop(child).catch(() => undefined);
    }
  };
  for (const name of cfg.writeTargets)
    await attempt(results.throughput, name, () =>
      writeRun(name, dist, owner, cfg.throughputSends, cfg.throughputConnections, 'throughput'),
    );
  for (const name of cfg.burstTargets)
    await attempt(results.writes, name, () => writeRun(name, dist, owner, cfg.sends, cfg.connections));
  if (cfg.sendsBig > 0)
    for (const name of cfg.bigTargets)
      await attempt(results.writesBig, name, () => writeRun(name, dist, owner, cfg.sendsBig, cfg.connections));
  for (const name of cfg.readTargets) await attempt(results.reads, name, () => readRun(name, dist, owner));
  for (const name of cfg.mixedTargets) await attempt(results.mixed, name, () => mixedRun(name, dist, owner));
  for (const name of cfg.overloadTargets) {
    const capacity = results.throughput.find((r) => r.target === name)?.ackedPerSecond;
    if (capacity) await attempt(results.overload, name, () => overloadRun(name, dist, owner, capacity));
  }
  const report = {
    date: new Date().toISOString(),
    mode,
    command: `${mode === 'full' ? 'make bench' : mode === 'quick' ? 'make bench QUICK=1' : 'SMOKE=1 load/bench.sh'}`,
    environmentOverrides: Object.fromEntries(
      Object.keys(cfg)
        .map((k) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase())
        .filter((k) => env[k] !== undefined)
        .map((k) => [k, env[k]]),
    ),
    commit,
    machine: machine(),
    config: cfg,
    durationSeconds: (Date.now() - started) / 1000,
    results,
  };
  report.checks = checks(report);
  mkdirSync(reportDir, { recursive: true });
  const charts = renderCharts(report, reportDir);
  report.charts = charts;
  writeFileSync(join(reportDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(reportDir, 'report.md'), renderReport(report));
  if (mode !== 'smoke') cpSync(join(reportDir, 'report.md'), join(h.outDir, 'report.md'));
  console.log(readFileSync(join(reportDir, 'report.md'), 'utf8'));
  log(`report: ${relative(process.cwd(), join(reportDir, 'report.md'))}; logs: ${h.outDir}`);
  const failed = [
    ...report.checks.filter((c) => c.kind === 'correctness' && c.met === false).map((c) => c.name),
    ...Object.values(results)
      .flat()
      .filter((r) => r.failed)
      .map((r) => `${r.target} did not run: ${r.failed}`),
  ];
  if (failed.length) {
    log(`failed: ${failed.join('; ')}`);
    process.exitCode = 1;
  }
} catch (error) {
  log('failed:', error);
  process.exitCode = 1;
} finally {
  await h.cleanOnce();
}
