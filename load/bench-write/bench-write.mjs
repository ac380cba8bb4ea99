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
// A scenario of the load harness (../lib/harness.mjs, ../lib/sends.mjs).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHarness, fmt, gql, head, sleep, stop, waitHttp } from '../lib/harness.mjs';
import { bufferHealth, logSummary, sendLoad, waitRows } from '../lib/sends.mjs';

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

// This run's harness, by the names the code below has always used.
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
} = createHarness({ name: 'bench-write' });

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

{
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
