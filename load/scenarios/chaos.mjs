// The fault campaign (`make chaos`): MESSAGES sendMessage calls through two api instances and
// one worker, compiled and in production mode, while a fault lands every FAULT_EVERY_SECONDS:
// the worker SIGKILLed, an api SIGKILLed (clients retry on the other with the same
// clientMessageId), every PostgreSQL connection of the run terminated, and the run's own Redis
// (appendonly yes, appendfsync always) SIGKILLed; each comes back a second later. Then a
// checker compares every acknowledged send with PostgreSQL: each clientMessageId stored exactly
// once, with its reply, the acknowledged ids the stored ones, and no dead letter. Writes
// results/chaos-<stamp>/report.md and report.json (a full campaign also
// results/<date>/chaos-<appendfsync>.md and .json); exits 1 when a check fails. A scenario of the
// harness (lib/harness.mjs runScenario: its database, key prefix, processes, clean-up), with
// lib/processes.mjs's redis-server of its own; every port is a free one the kernel picks.
//
//   load/bench.sh chaos                 # make chaos: MESSAGES=50000, a fault every 10 s
//   SMOKE=1 load/bench.sh chaos         # make test: 3,000 messages, a fault every second
//
// Environment: MESSAGES, CONCURRENCY (100), FAULT_EVERY_SECONDS, FAULTS (worker,api,postgres,redis),
// APPENDFSYNC (always), GIVE_UP_SECONDS (120), PG_ADMIN_URL, PARLEY_DIST (a built dist/ instead
// of building HEAD).

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gql, head, runScenario, sleep } from '../lib/harness.mjs';
import { freePort, redisServer } from '../lib/processes.mjs';
import { fmt } from '../lib/report.mjs';

const env = process.env;
const smoke = env.SMOKE === '1';
const num = (name, def) => Number(env[name] ?? def);
const cfg = {
  messages: num('MESSAGES', smoke ? 3000 : 50_000),
  concurrency: num('CONCURRENCY', 100),
  faultEverySeconds: num('FAULT_EVERY_SECONDS', smoke ? 1 : 10),
  faults: (env.FAULTS ?? 'worker,api,postgres,redis').split(','),
  appendfsync: env.APPENDFSYNC ?? 'always',
  /** How long one send keeps retrying before it is given up (then it was never acknowledged). */
  giveUpSeconds: num('GIVE_UP_SECONDS', 120),
};

/**
 * The campaign on harness `harness`, whose Redis is `ownRedis` (up): the load, the faults, the
 * drain, the checker and the report. Returns the checks that failed.
 */
async function campaign(harness, ownRedis) {
  const { log, start, waitHttp, parleyEnv, createDatabase, adminQuery, redis, outDir } = harness;
  const prefix = `${harness.prefixStem}run:`;
  let started = Date.now();
  const dist = harness.build();
  await createDatabase();
  const ports = [await freePort(), await freePort()];
  const appEnv = (port, name) => ({
    ...parleyEnv(port, prefix),
    // Connections named after the process, so the PostgreSQL fault can find this run's.
    DATABASE_URL: `${harness.dbUrl}?application_name=chaos-${name}`,
    // A dead worker's claims come back sooner than the default 30 s.
    BUFFER_LEASE_MILLIS: '5000',
    SHUTDOWN_TIMEOUT_MILLIS: '5000',
  });
  const apis = ports.map((port, i) => ({
    name: `api-${i}`,
    port,
    origin: `http://127.0.0.1:${port}`,
    child: undefined,
  }));
  const worker = { name: 'worker', child: undefined };
  const startApi = async (api) => {
    api.child = start(api.name, process.execPath, [join(dist, 'src/main.js')], appEnv(api.port, api.name), api.name);
    await waitHttp(`${api.origin}/health`, api.child);
  };
  const startWorker = () => {
    worker.child = start('worker', process.execPath, [join(dist, 'worker/main.js')], appEnv(0, 'worker'), 'worker');
  };
  await Promise.all(apis.map(startApi));
  startWorker();

  const email = `chaos-${harness.stamp.toLowerCase()}@example.com`;
  const password = `Chaos-${randomBytes(12).toString('hex')}`;
  const { signUp } = await gql(
    apis[0].origin,
    'mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }',
    {
      i: { email, password, name: 'Chaos Owner' },
    },
  );
  const token = signUp.token;
  const { createBot } = await gql(
    apis[0].origin,
    'mutation($i: CreateBotInput!) { createBot(input: $i) { id } }',
    {
      i: { name: 'Chaos bot' },
    },
    token,
  );
  const botId = createBot.id;
  log(
    `${cfg.messages} messages, ${cfg.concurrency} at a time, a fault every ${cfg.faultEverySeconds} s (${cfg.faults.join(', ')}); Redis appendfsync ${cfg.appendfsync}`,
  );

  // --- load: every message retried, with the same clientMessageId, until acknowledged ---
  const acked = new Map();
  const attempts = { total: 0, failed: 0, byStatus: {} };
  let next = 0;
  const sendOne = async (index) => {
    const clientMessageId = `chaos-${index}`;
    const deadline = Date.now() + cfg.giveUpSeconds * 1000;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const api = apis[(index + attempt) % apis.length];
      attempts.total++;
      let status = 'network';
      try {
        const response = await fetch(`${api.origin}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({
            query: `mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id status } reply { id } } }`,
            variables: { i: { botId, text: `message ${index}`, clientMessageId } },
          }),
          signal: AbortSignal.timeout(10_000),
        });
        status = String(response.status);
        const body = await response.json();
        if (body.errors?.[0]?.extensions?.code) status += ` ${body.errors[0].extensions.code}`;
        if (response.ok && body.data?.sendMessage) {
          const { message, reply } = body.data.sendMessage;
          acked.set(clientMessageId, {
            messageId: message.id,
            replyId: reply.id,
            status: message.status,
            api: api.name,
          });
          return;
        }
      } catch {
        // the api died or is restarting: try again, elsewhere
      }
      attempts.failed++;
      attempts.byStatus[status] = (attempts.byStatus[status] ?? 0) + 1;
      await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2));
    }
  };
  started = Date.now();
  const loaders = Array.from({ length: cfg.concurrency }, async () => {
    while (next < cfg.messages) await sendOne(next++);
  });

  // --- faults, one every FAULT_EVERY_SECONDS, in turn; each says what it did ---
  const inject = async (kind, round) => {
    if (kind === 'postgres') {
      const rows = await adminQuery(
        `SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND application_name LIKE 'chaos-%') AS terminated`,
        [harness.dbName],
      );
      return `pg_terminate_backend: ${rows[0].n} connections terminated`;
    }
    if (kind === 'worker') {
      worker.child.kill('SIGKILL');
      await sleep(1000);
      startWorker();
      return 'SIGKILL, restarted after 1 s';
    }
    if (kind === 'api') {
      const api = apis[Math.floor(round / cfg.faults.length) % apis.length];
      api.child.kill('SIGKILL');
      await sleep(1000);
      await startApi(api);
      return `${api.name} SIGKILL, restarted after 1 s`;
    }
    if (kind === 'redis') {
      await ownRedis.kill();
      await sleep(1000);
      await ownRedis.up();
      return 'SIGKILL, restarted after 1 s';
    }
    throw new Error(`unknown fault '${kind}' (FAULTS: worker, api, postgres, redis)`);
  };
  const faults = [];
  let loading = true;
  const injector = (async () => {
    for (let round = 0; loading; round++) {
      await sleep(cfg.faultEverySeconds * 1000);
      if (!loading) break;
      const kind = cfg.faults[round % cfg.faults.length];
      const at = Date.now() - started;
      let detail;
      try {
        detail = await inject(kind, round);
      } catch (error) {
        detail = `fault failed: ${error}`;
      }
      faults.push({ kind, at, detail });
      log(`fault ${faults.length}: ${kind} at ${fmt(at / 1000, 1)} s — ${detail}`);
    }
  })();
  await Promise.all(loaders);
  loading = false;
  await injector;
  const loadSeconds = (Date.now() - started) / 1000;
  log(`${fmt(acked.size)} of ${fmt(cfg.messages)} acknowledged in ${fmt(loadSeconds, 1)} s; draining`);

  // --- drain: the (running) worker empties the buffer ---
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) startWorker();
  const keys = {
    pending: `${prefix}buffer:{buffer}:pending`,
    claims: `${prefix}buffer:{buffer}:claims`,
    dead: `${prefix}buffer:{buffer}:dead`,
  };
  const drainStarted = Date.now();
  for (;;) {
    const [depth, claims] = await Promise.all([redis.llen(keys.pending), redis.zcard(keys.claims)]);
    let held = 0;
    for (const claim of await redis.zrange(keys.claims, 0, -1))
      held += await redis.llen(`${prefix}buffer:{buffer}:claim:${claim}`);
    if (depth === 0 && held === 0) break;
    if (Date.now() - drainStarted > 120_000)
      throw new Error(`not drained after 120 s: ${depth} pending, ${claims} claims`);
    await sleep(200);
  }
  const drainSeconds = (Date.now() - drainStarted) / 1000;

  // --- the checker, on a connection of its own to the run's database ---
  const db = await harness.probe();
  const rows = await db.query(
    `SELECT m.client_message_id, m.id, (SELECT count(*) FROM messages r WHERE r.reply_to = m.id) AS replies
         FROM messages m WHERE m.bot_id = $1 AND m.role = 'USER'`,
    [botId],
  );
  const stored = new Map();
  let duplicates = 0;
  for (const row of rows) {
    if (stored.has(row.client_message_id)) duplicates++;
    stored.set(row.client_message_id, row);
  }
  const [{ n: totalRows }] = await db.query('SELECT count(*) AS n FROM messages WHERE bot_id = $1', [botId]);
  const [{ n: counted }] = await db.query('SELECT message_count AS n FROM bots WHERE id = $1', [botId]);
  await db.end();
  let missing = 0;
  let withoutReply = 0;
  let otherIds = 0;
  const missingSamples = [];
  for (const [clientMessageId, ack] of acked) {
    const row = stored.get(clientMessageId);
    if (!row) {
      missing++;
      if (missingSamples.length < 5) missingSamples.push({ clientMessageId, ...ack });
      continue;
    }
    if (Number(row.replies) !== 1) withoutReply++;
    if (row.id !== ack.messageId) otherIds++;
  }
  const deadLetters = await redis.hlen(keys.dead);
  const checks = [
    { name: 'every acknowledged message is in PostgreSQL', ok: missing === 0, value: `${missing} missing` },
    { name: 'no clientMessageId stored twice', ok: duplicates === 0, value: `${duplicates} twice` },
    {
      name: 'each stored message has exactly one reply',
      ok: withoutReply === 0 && Number(totalRows) === rows.length * 2,
      value: `${withoutReply} without; ${totalRows} rows for ${rows.length} messages`,
    },
    {
      name: "the bot's message count matches the rows",
      ok: Number(counted) === Number(totalRows),
      value: `${counted} counted, ${totalRows} rows`,
    },
    { name: 'the dead-letter list is empty', ok: deadLetters === 0, value: `${deadLetters} dead letters` },
  ];
  const report = {
    head: head(),
    command: `${smoke ? 'SMOKE=1 ' : ''}load/bench.sh chaos`,
    machine: harness.versions(),
    config: cfg,
    messages: cfg.messages,
    acknowledged: acked.size,
    storedMessages: rows.length,
    unacknowledgedButStored: rows.filter((row) => !acked.has(row.client_message_id)).length,
    acknowledgedWithAnotherId: otherIds,
    attempts,
    faults,
    loadSeconds,
    drainSeconds,
    checks,
    missingSamples,
  };
  writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  const lines = [
    `# Fault campaign, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `HEAD \`${report.head}\`; ${report.machine}; \`${report.command}\`; Redis \`appendfsync ${cfg.appendfsync}\`.`,
    '',
    `${fmt(cfg.messages)} messages, ${cfg.concurrency} at a time, through 2 api instances and 1 worker; ${faults.length} faults in ${fmt(loadSeconds, 1)} s; drained ${fmt(drainSeconds, 1)} s after the last send.`,
    '',
    '| fault | at | what happened |',
    '| --- | ---: | --- |',
    ...faults.map((fault) => `| ${fault.kind} | ${fmt(fault.at / 1000, 1)} s | ${fault.detail} |`),
    '',
    `Acknowledged ${fmt(acked.size)}; stored ${fmt(rows.length)} (of them ${report.unacknowledgedButStored} never acknowledged to the client, whose last try failed); ${otherIds} acknowledged under ids other than the stored ones. Attempts ${fmt(attempts.total)}, failed ${fmt(attempts.failed)} (${
      Object.entries(attempts.byStatus)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') || 'none'
    }).`,
    '',
    '| check | result | |',
    '| --- | --- | --- |',
    ...checks.map((check) => `| ${check.name} | ${check.ok ? 'pass' : '**FAIL**'} | ${check.value} |`),
    '',
  ];
  writeFileSync(join(outDir, 'report.md'), lines.join('\n'));
  console.log(lines.join('\n'));
  log(`report: ${join(outDir, 'report.md')}`);
  if (!smoke) {
    // A full campaign's report goes next to the day's benchmark report (load/results/<date>/).
    const dayDir = join(outDir, '..', new Date().toISOString().slice(0, 10));
    mkdirSync(dayDir, { recursive: true });
    writeFileSync(join(dayDir, `chaos-${cfg.appendfsync}.md`), lines.join('\n'));
    writeFileSync(join(dayDir, `chaos-${cfg.appendfsync}.json`), `${JSON.stringify(report, null, 2)}\n`);
    log(`and ${join(dayDir, `chaos-${cfg.appendfsync}.md`)}`);
  }
  return checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.value}`);
}

// The run's own Redis, on a port known before the harness (its client and clean-up use it),
// started in the run and stopped after the harness's clean-up (which deletes the run's keys on it).
const redisPort = await freePort();
let runRedis;
await runScenario({ name: 'chaos', redisPort }, async (harness) => {
  runRedis = redisServer({
    port: redisPort,
    name: 'chaos-redis',
    // AOF with `appendfsync` as configured, so a SIGKILL keeps what it acknowledged.
    args: ['--appendfsync', cfg.appendfsync],
    logFile: join(harness.outDir, 'redis.log'),
  });
  await runRedis.up();
  return campaign(harness, runRedis);
});
await runRedis?.stop().catch((error) => console.error(`[chaos] could not stop the run's redis-server: ${error}`));
