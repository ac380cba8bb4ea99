// The fault campaign (`make chaos`): MESSAGES sendMessage calls through two api instances and
// one worker, compiled and in production mode, while a fault lands every FAULT_EVERY_SECONDS:
// the worker SIGKILLed, an api SIGKILLed (clients retry on the other with the same
// clientMessageId), every PostgreSQL connection of the run terminated, and the run's own Redis
// (appendonly yes, appendfsync always) SIGKILLed; each comes back a second later.
// CLUSTER=1 (make chaos CLUSTER=1): on a Redis Cluster of the run's own instead (3 masters, 3
// replicas, the same AOF settings, cluster-node-timeout 2 s; REDIS_CLUSTER_NODES), with two
// workers, and the Redis faults `redis-master` (the master holding the write buffer's slot
// SIGKILLed: its replica takes over; the node started again once the cluster is ok, when it
// rejoins as a replica) and `redis-replica` (that master's replica SIGKILLed, started again a
// second later); the report gives, per master kill, how long the cluster was not ok. Then a
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
// Environment: MESSAGES, CONCURRENCY (100), FAULT_EVERY_SECONDS, FAULTS (worker,api,postgres,redis;
// with CLUSTER=1 worker,api,postgres,redis-master,redis-replica), CLUSTER, WORKERS (1; 2 with
// CLUSTER=1), APPENDFSYNC (always), GIVE_UP_SECONDS (120), PG_ADMIN_URL, PARLEY_DIST (a built
// dist/ instead of building HEAD).

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gql, head, runScenario, sleep } from '../lib/harness.mjs';
import { freePort, freePorts, redisCluster, redisServer } from '../lib/processes.mjs';
import { fmt } from '../lib/report.mjs';

const env = process.env;
const smoke = env.SMOKE === '1';
const num = (name, def) => Number(env[name] ?? def);
const clusterMode = env.CLUSTER === '1';
/** The kinds of fault each mode knows: one Redis, or the run's own Redis Cluster. */
const faultKinds = clusterMode
  ? ['worker', 'api', 'postgres', 'redis-master', 'redis-replica']
  : ['worker', 'api', 'postgres', 'redis'];
const cfg = {
  messages: num('MESSAGES', smoke ? 3000 : 50_000),
  concurrency: num('CONCURRENCY', 100),
  faultEverySeconds: num('FAULT_EVERY_SECONDS', smoke ? 1 : 10),
  faults: (env.FAULTS ?? faultKinds.join(',')).split(','),
  cluster: clusterMode,
  workers: num('WORKERS', clusterMode ? 2 : 1),
  /** The write buffer's shards: spread over the masters on the cluster. */
  bufferShards: num('BUFFER_SHARDS', clusterMode ? 16 : 1),
  appendfsync: env.APPENDFSYNC ?? 'always',
  /** How long one send keeps retrying before it is given up (then it was never acknowledged). */
  giveUpSeconds: num('GIVE_UP_SECONDS', 120),
};

const unknownFaults = cfg.faults.filter((kind) => !faultKinds.includes(kind));
if (unknownFaults.length) {
  console.error(
    `[chaos] unknown fault ${unknownFaults.join(', ')}: FAULTS ${clusterMode ? 'with' : 'without'} CLUSTER=1 takes ${faultKinds.join(', ')}`,
  );
  process.exit(2);
}

/**
 * The campaign on harness `harness`, whose Redis is `ownRedis` (up), or with CLUSTER=1 the
 * cluster `ownCluster` (up): the load, the faults, the drain, the checker and the report.
 * Returns the checks that failed.
 */
async function campaign(harness, ownRedis, ownCluster) {
  const { log, start, waitHttp, parleyEnv, createDatabase, adminQuery, outDir } = harness;
  // The checker's client of the run's Redis: the cluster client routes the buffer's keys to its master.
  const redis = ownCluster ? await harness.clusterRedis() : harness.redis;
  const prefix = `${harness.prefixStem}run:`;
  let started = Date.now();
  const dist = harness.build();
  // The build's own shard layout and keys: what its processes write, whatever this version of it is.
  const fromBuild = (module) => createRequire(import.meta.url)(join(dist, 'src', ...module.split('/')));
  const { createBufferShards } = fromBuild('buffer/shards.js');
  const keys = fromBuild('platform/redis/keys.js').createCacheKeys(prefix);
  const shardKeys = createBufferShards(cfg.bufferShards).tags.map((tag) => keys.bufferShard(tag));
  await createDatabase();
  const ports = [await freePort(), await freePort()];
  const appEnv = (port, name) => ({
    ...parleyEnv(port, prefix),
    ...(ownCluster ? { REDIS_CLUSTER_NODES: ownCluster.seeds } : {}),
    // Connections named after the process, so the PostgreSQL fault can find this run's.
    DATABASE_URL: `${harness.dbUrl}?application_name=chaos-${name}`,
    // A dead worker's claims come back sooner than the default 30 s.
    BUFFER_LEASE_MILLIS: '5000',
    BUFFER_SHARDS: String(cfg.bufferShards),
    SHUTDOWN_TIMEOUT_MILLIS: '5000',
  });
  const apis = ports.map((port, i) => ({
    name: `api-${i}`,
    port,
    origin: `http://127.0.0.1:${port}`,
    child: undefined,
  }));
  const workers = Array.from({ length: cfg.workers }, (_, i) => ({
    name: cfg.workers === 1 ? 'worker' : `worker-${i}`,
    child: undefined,
  }));
  const startApi = async (api) => {
    api.child = start(api.name, process.execPath, [join(dist, 'src/main.js')], appEnv(api.port, api.name), api.name);
    await waitHttp(`${api.origin}/health`, api.child);
  };
  const startWorker = (worker) => {
    worker.child = start(
      worker.name,
      process.execPath,
      [join(dist, 'worker/main.js')],
      appEnv(0, worker.name),
      worker.name,
    );
  };
  await Promise.all(apis.map(startApi));
  workers.forEach(startWorker);

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
    `${cfg.messages} messages, ${cfg.concurrency} at a time, ${cfg.workers} worker(s), a fault every ${cfg.faultEverySeconds} s (${cfg.faults.join(', ')}); ${ownCluster ? `Redis Cluster ${ownCluster.seeds}` : 'Redis'} appendfsync ${cfg.appendfsync}`,
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
            at: Date.now() - started,
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
  // The Redis faults take the masters in turn: the k-th kill, the shard in the middle of the
  // k-th third of the slots (a 3-master cluster gives each master a third, and the shards' tags
  // are spread evenly over the slots), so each master (or its replica) has its turn.
  const bufferKey = (round) => {
    const kill = Math.floor(round / cfg.faults.length);
    return shardKeys[Math.floor((((kill % 3) + 0.5) * shardKeys.length) / 3)].pending();
  };
  const inject = async (kind, round, fault) => {
    if (kind === 'postgres') {
      const rows = await adminQuery(
        `SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND application_name LIKE 'chaos-%') AS terminated`,
        [harness.dbName],
      );
      return `pg_terminate_backend: ${rows[0].n} connections terminated`;
    }
    if (kind === 'worker') {
      const worker = workers[Math.floor(round / cfg.faults.length) % workers.length];
      worker.child.kill('SIGKILL');
      await sleep(1000);
      startWorker(worker);
      return `${workers.length > 1 ? `${worker.name} ` : ''}SIGKILL, restarted after 1 s`;
    }
    if (kind === 'api') {
      const api = apis[Math.floor(round / cfg.faults.length) % apis.length];
      api.child.kill('SIGKILL');
      await sleep(1000);
      await startApi(api);
      return `${api.name} SIGKILL, restarted after 1 s`;
    }
    if (kind === 'redis') {
      fault.killedAt = Date.now() - started;
      await ownRedis.kill();
      await sleep(1000);
      await ownRedis.up();
      return 'SIGKILL, restarted after 1 s';
    }
    if (kind === 'redis-master') {
      // The master holding the buffer's slot: its replica takes over once the others see it
      // failing (cluster-node-timeout), and it is started again once the cluster is ok.
      const { slot, master, server } = await ownCluster.masterOfKey(bufferKey(round));
      if (!server) throw new Error(`no master serves slot ${slot}`);
      fault.killedAt = Date.now() - started;
      const killed = Date.now();
      await server.kill();
      await ownCluster.waitUntil(60);
      fault.okAfterSeconds = (Date.now() - killed) / 1000;
      const { master: promoted } = await ownCluster.masterOfKey(bufferKey(round));
      await sleep(1000);
      const restarted = Date.now();
      await server.up();
      await ownCluster.waitUntil(60);
      fault.rejoinedAfterSeconds = (Date.now() - restarted) / 1000;
      const back = (await ownCluster.view()).find((node) => node.port === server.port);
      const as =
        back.role === 'replica' && back.masterId === promoted.id
          ? `a replica of :${promoted.port}`
          : `${back.role}${back.masterId ? ` of ${back.masterId.slice(0, 8)}` : ''}`;
      return `master :${master.port} of slot ${slot} SIGKILLed; :${promoted.port} master, cluster ok after ${fmt(fault.okAfterSeconds, 1)} s; restarted 1 s later, back as ${as} after ${fmt(fault.rejoinedAfterSeconds, 1)} s`;
    }
    if (kind === 'redis-replica') {
      // The replica of the buffer's master: the one that would take over from it.
      const { master } = await ownCluster.masterOfKey(bufferKey(round));
      const replica = (await ownCluster.view()).find((node) => node.masterId === master.id && !node.failing);
      if (!replica) throw new Error(`master :${master.port} has no replica up`);
      await ownCluster.node(replica.port).kill();
      await sleep(1000);
      const restarted = Date.now();
      await ownCluster.node(replica.port).up();
      await ownCluster.waitUntil(60);
      fault.rejoinedAfterSeconds = (Date.now() - restarted) / 1000;
      return `replica :${replica.port} of :${master.port} SIGKILLed, restarted after 1 s, in sync after ${fmt(fault.rejoinedAfterSeconds, 1)} s`;
    }
    throw new Error(`unknown fault '${kind}' (FAULTS: ${faultKinds.join(', ')})`);
  };
  const faults = [];
  let loading = true;
  const injector = (async () => {
    for (let round = 0; loading; round++) {
      await sleep(cfg.faultEverySeconds * 1000);
      if (!loading) break;
      const kind = cfg.faults[round % cfg.faults.length];
      const fault = { kind, at: Date.now() - started };
      try {
        fault.detail = await inject(kind, round, fault);
      } catch (error) {
        fault.detail = `fault failed: ${error}`;
        fault.failed = true;
      }
      faults.push(fault);
      const { detail, at } = fault;
      log(`fault ${faults.length}: ${kind} at ${fmt(at / 1000, 1)} s — ${detail}`);
    }
  })();
  await Promise.all(loaders);
  loading = false;
  await injector;
  const loadSeconds = (Date.now() - started) / 1000;
  log(`${fmt(acked.size)} of ${fmt(cfg.messages)} acknowledged in ${fmt(loadSeconds, 1)} s; draining`);

  // --- drain: the (running) worker empties the buffer ---
  for (const worker of workers)
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) startWorker(worker);
  const drainStarted = Date.now();
  for (;;) {
    let [depth, claims, held] = [0, 0, 0];
    for (const shard of shardKeys) {
      depth += await redis.llen(shard.pending());
      const claimIds = await redis.zrange(shard.claims(), 0, -1);
      claims += claimIds.length;
      for (const claim of claimIds) held += await redis.llen(shard.claim(claim));
    }
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
  const lostAcks = [];
  for (const [clientMessageId, ack] of acked) {
    const row = stored.get(clientMessageId);
    if (!row) {
      missing++;
      lostAcks.push({ clientMessageId, ...ack });
      if (missingSamples.length < 5) missingSamples.push({ clientMessageId, ...ack });
      continue;
    }
    if (Number(row.replies) !== 1) withoutReply++;
    if (row.id !== ack.messageId) otherIds++;
  }
  let deadLetters = 0;
  for (const shard of shardKeys) deadLetters += await redis.hlen(shard.dead());
  // Each missing send next to the first Redis kill at or after its acknowledgement: what a
  // Redis that acknowledged it and then died (or a master not yet replicated) took with it.
  const redisKills = faults.filter((fault) => fault.killedAt !== undefined);
  const lostByFault = new Map();
  for (const lost of lostAcks) {
    const fault = redisKills.find((f) => f.killedAt >= lost.at);
    const entry = lostByFault.get(fault) ?? { fault, count: 0, earliestBeforeKillMs: 0, ids: [] };
    entry.count++;
    if (fault) entry.earliestBeforeKillMs = Math.max(entry.earliestBeforeKillMs, fault.killedAt - lost.at);
    if (entry.ids.length < 10) entry.ids.push(lost.clientMessageId);
    lostByFault.set(fault, entry);
  }
  for (const [fault, entry] of lostByFault) if (fault) fault.lostAcknowledged = entry.count;
  const lost = [...lostByFault.values()].map(({ fault, count, earliestBeforeKillMs, ids }) => ({
    fault: fault ? faults.indexOf(fault) + 1 : null,
    kind: fault?.kind ?? null,
    killedAt: fault?.killedAt ?? null,
    count,
    earliestBeforeKillMs: fault ? earliestBeforeKillMs : null,
    clientMessageIds: ids,
  }));
  const faultsByKind = Object.fromEntries(
    cfg.faults.map((kind) => [kind, faults.filter((fault) => fault.kind === kind).length]),
  );
  const masterKills = faults.filter((fault) => fault.kind === 'redis-master' && fault.okAfterSeconds !== undefined);
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
    command: `${[
      'SMOKE',
      'CLUSTER',
      'MESSAGES',
      'CONCURRENCY',
      'FAULT_EVERY_SECONDS',
      'FAULTS',
      'WORKERS',
      'APPENDFSYNC',
    ]
      .filter((name) => env[name] !== undefined)
      .map((name) => `${name}=${env[name]} `)
      .join('')}load/bench.sh chaos`,
    machine: harness.versions(),
    config: cfg,
    messages: cfg.messages,
    redis: ownCluster ? `cluster of 6 (3 masters, 3 replicas): ${ownCluster.seeds}` : 'one redis-server',
    acknowledged: acked.size,
    storedMessages: rows.length,
    lostAcknowledged: missing,
    duplicates,
    deadLetters,
    faultsByKind,
    lost,
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
    `HEAD \`${report.head}\`; ${report.machine}; \`${report.command}\`; ${
      ownCluster
        ? 'a Redis Cluster of the run (3 masters, 3 replicas, `cluster-node-timeout 2000`, acknowledgements not waiting for replicas)'
        : 'Redis'
    } \`appendfsync ${cfg.appendfsync}\`.`,
    '',
    `${fmt(cfg.messages)} messages, ${cfg.concurrency} at a time, through 2 api instances and ${workers.length} worker${workers.length > 1 ? 's' : ''}; ${faults.length} faults in ${fmt(loadSeconds, 1)} s (${Object.entries(
      faultsByKind,
    )
      .map(([kind, n]) => `${kind} ×${n}`)
      .join(', ')}); drained ${fmt(drainSeconds, 1)} s after the last send.`,
    '',
    `**Acknowledged ${fmt(acked.size)}, stored ${fmt(rows.length)}, lost ${fmt(missing)} acknowledged, ${duplicates} stored twice, ${deadLetters} dead letters.**`,
    '',
    '| # | fault | at | what happened | acknowledged sends lost |',
    '| ---: | --- | ---: | --- | ---: |',
    ...faults.map(
      (fault, i) =>
        `| ${i + 1} | ${fault.kind} | ${fmt(fault.at / 1000, 1)} s | ${fault.detail} | ${fault.killedAt === undefined ? '' : (fault.lostAcknowledged ?? 0)} |`,
    ),
    '',
    ...(masterKills.length
      ? [
          `Master kills: the cluster ok again after ${masterKills.map((fault) => `${fmt(fault.okAfterSeconds, 1)} s`).join(', ')} (the others' node timeout, 2 s, then the replica's election); the restarted node in sync after ${masterKills.map((fault) => `${fmt(fault.rejoinedAfterSeconds, 1)} s`).join(', ')}.`,
          '',
        ]
      : []),
    ...lost.map((entry) =>
      entry.fault
        ? `Lost ${entry.count} acknowledged send${entry.count > 1 ? 's' : ''} acknowledged before fault ${entry.fault} (${entry.kind} at ${fmt(entry.killedAt / 1000, 1)} s), the earliest ${fmt(entry.earliestBeforeKillMs)} ms before the kill: ${entry.clientMessageIds.join(', ')}${entry.count > entry.clientMessageIds.length ? ', …' : ''}.`
        : `Lost ${entry.count} acknowledged send${entry.count > 1 ? 's' : ''} after the last Redis kill (no Redis fault explains them): ${entry.clientMessageIds.join(', ')}${entry.count > entry.clientMessageIds.length ? ', …' : ''}.`,
    ),
    ...(lost.length ? [''] : []),
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
    const file = `chaos-${ownCluster ? 'cluster-' : ''}${cfg.appendfsync}`;
    writeFileSync(join(dayDir, `${file}.md`), lines.join('\n'));
    writeFileSync(join(dayDir, `${file}.json`), `${JSON.stringify(report, null, 2)}\n`);
    log(`and ${join(dayDir, `${file}.md`)}`);
  }
  return checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.value}`);
}

// The run's own Redis, on a port known before the harness (its client and clean-up use it),
// started in the run and stopped after the harness's clean-up (which deletes the run's keys on it).
// With CLUSTER=1 the run's own cluster, its ports known before the harness likewise: the
// harness's cluster client (PARLEY_CLUSTER_NODES) and its clean-up then go to it, never to
// the shared local cluster, and its one-Redis client to the cluster's first node.
if (clusterMode) {
  const ports = await freePorts(12);
  const clusterPorts = ports.slice(0, 6);
  env.PARLEY_CLUSTER_NODES = clusterPorts.map((port) => `127.0.0.1:${port}`).join(',');
  let runCluster;
  await runScenario({ name: 'chaos', redisPort: clusterPorts[0] }, async (harness) => {
    runCluster = redisCluster({
      ports: clusterPorts,
      busPorts: ports.slice(6),
      name: 'chaos-cluster',
      nodeTimeoutMillis: 2000,
      args: ['--appendfsync', cfg.appendfsync],
      logDir: harness.outDir,
    });
    await runCluster.up();
    harness.log(`Redis Cluster of the run up: ${runCluster.seeds} (3 masters, 3 replicas)`);
    return campaign(harness, undefined, runCluster);
  });
  await runCluster?.stop().catch((error) => console.error(`[chaos] could not stop the run's cluster: ${error}`));
} else {
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
}
