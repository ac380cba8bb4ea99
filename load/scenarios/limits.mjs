// `make bench-limits`: the rate-limit scenario of the load harness (lib/), run by
// `load/bench.sh limits`: what `@rateLimit` costs a request, and how it behaves at three times a
// limit, in one run; cleans up after (see load/README.md, "Rate-limit benchmark").
//
// 1. Cost: closed-loop sendMessage load (lib/loadgen.mjs closedLoop with lib/workload.mjs sender:
//    one FREE owner, one bot, COST_CONNECTIONS clients, SENDS_PER_CONVERSATION sends per
//    conversation; a 429 is not retried) against Parley (lib/targets.mjs: api + one worker with
//    Redis on), RATE_LIMIT_ENABLED=true with every limit raised to COST_LIMIT (nothing is
//    refused, so every send pays its four counter checks: GLOBAL in memory, USER, IP and BOT each
//    one Lua script in Redis) against RATE_LIMIT_ENABLED=false, alternating on/off COST_ROUNDS
//    times, each run with its processes started afresh and its own key prefix. Per run: req/s,
//    exact p50/p95/p99, the api's CPU per send (/proc), Redis commands per send (INFO
//    commandstats delta; a script's own calls included, as Redis counts them) and Redis CPU per
//    send (INFO cpu delta).
// 2. Behaviour at 3× the limit: RATE_LIMIT_WINDOW_SECONDS=BURST_WINDOW_SECONDS (10) and
//    RATE_LIMIT_USER_PER_MIN=BURST_USER_LIMIT (100, i.e. 100 per 10 s), IP and BOT at their
//    defaults (BURST_IP_LIMIT 200, BURST_BOT_LIMIT 500), GLOBAL raised (BURST_GLOBAL_LIMIT) so
//    that only the per-user limit binds. BURST_USERS (20) FREE owners, each with its own bot and
//    its own loopback source address (127.0.0.10, .11, …: the api sees each as its own IP), plus
//    one ENTERPRISE owner (exempt from USER and IP: the control), each send open loop at
//    BURST_RATE (30/s) for BURST_SECONDS (30) over BURST_CONNECTIONS_PER_USER (10) connections,
//    after BURST_WARMUP_SENDS (300) warm-up sends by another owner. Every answer is kept: status,
//    Retry-After, RateLimit headers, error code, send and answer times; the checks are printed
//    as pass/FAIL, and a FAIL (or a failed or erroring run) makes the exit status 1.
//
// Other settings: REQUEST_TIMEOUT_SECONDS (30); BASE_PORT (4641: the cost targets on +0 and +1,
// the burst target on +2, their workers on +10 to +12, seeding on +9); PARLEY_DIST (a built dist/
// instead of building HEAD). Everything it starts it stops by pid; it drops its database and
// deletes its Redis keys (its prefix, SCAN + UNLINK) at the end, also on failure or Ctrl-C
// (lib/harness.mjs runScenario). Loopback only. Results: load/results/limits-<stamp>/.
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { gql, head, runScenario, sleep, stop } from '../lib/harness.mjs';
import { closedLoop, postGraphql } from '../lib/loadgen.mjs';
import { processCpuMillis } from '../lib/processes.mjs';

const processCpuSeconds = (pid) => processCpuMillis(pid) / 1000;
import { bufferHealth } from '../lib/observe.mjs';
import { fmt } from '../lib/report.mjs';
import { median, percentile } from '../lib/stats.mjs';
import { createTargets, logInToken } from '../lib/targets.mjs';
import { TEXTS, sender } from '../lib/workload.mjs';

const env = process.env;
const num = (name, def) => Number(env[name] ?? def);
const cfg = {
  costSends: num('COST_SENDS', 10_000),
  costConnections: num('COST_CONNECTIONS', 50),
  costWarmupSends: num('COST_WARMUP_SENDS', 1000),
  costRounds: num('COST_ROUNDS', 4),
  costLimit: num('COST_LIMIT', 100_000_000),
  sendsPerConversation: num('SENDS_PER_CONVERSATION', 5),
  burstUsers: num('BURST_USERS', 20),
  burstRate: num('BURST_RATE', 30),
  burstSeconds: num('BURST_SECONDS', 30),
  burstWindowSeconds: num('BURST_WINDOW_SECONDS', 10),
  burstUserLimit: num('BURST_USER_LIMIT', 100),
  burstIpLimit: num('BURST_IP_LIMIT', 200),
  burstBotLimit: num('BURST_BOT_LIMIT', 500),
  burstGlobalLimit: num('BURST_GLOBAL_LIMIT', 1_000_000),
  burstConnectionsPerUser: num('BURST_CONNECTIONS_PER_USER', 10),
  burstWarmupSends: num('BURST_WARMUP_SENDS', 300),
  requestTimeoutSeconds: num('REQUEST_TIMEOUT_SECONDS', 30),
  basePort: num('BASE_PORT', 4641),
};
/** The FREE users' source addresses: 127.0.0.10, .11, …; the ENTERPRISE user's comes after them. */
const addressOf = (u) => `127.0.0.${10 + u}`;

const SEND = 'mutation Send($i: SendMessageInput!) { sendMessage(input: $i) { conversationId message { id status } } }';

/** Every owner signs up (and creates one bot) through a seeding api with the rate limits off. */
async function seed(h, dist) {
  await h.createDatabase();
  const port = cfg.basePort + 9;
  const origin = `http://127.0.0.1:${port}`;
  const api = h.start(
    'seed-api',
    process.execPath,
    [join(dist, 'src/main.js')],
    { ...h.parleyEnv(port), RATE_LIMIT_ENABLED: 'false' },
    'seed-api',
  );
  await h.waitHttp(`${origin}/health/db`, api);
  const roles = ['cost', 'warm', 'enterprise', ...Array.from({ length: cfg.burstUsers }, (_, u) => `user${u}`)];
  const owners = {};
  for (const role of roles) {
    const email = `bench-limits-${role}-${h.stamp.toLowerCase()}@example.com`;
    const password = `Bench-${randomBytes(12).toString('hex')}`;
    const { signUp } = await gql(origin, 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }', {
      i: { email, password, name: `Bench ${role}` },
    });
    const { createBot } = await gql(
      origin,
      'mutation($i: CreateBotInput!) { createBot(input: $i) { id } }',
      { i: { name: `Bench limits bot ${role}`, description: `The bot of the rate-limit benchmark's ${role}` } },
      signUp.token,
    );
    owners[role] = { role, email, password, botId: createBot.id };
  }
  await stop(api);
  // The plan is read at log-in (the targets log in afresh): one ENTERPRISE owner, the others FREE.
  const db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await db.query(`UPDATE users SET plan = 'ENTERPRISE' WHERE email = $1`, [owners.enterprise.email]);
  const plans = (await db.query('SELECT plan, count(*)::int AS n FROM users GROUP BY plan ORDER BY plan')).rows;
  await db.end();
  h.log(`signed up ${roles.length} owners with a bot each; plans ${JSON.stringify(plans)}`);
  // Passwords and tokens stay in this process: nothing secret goes to results/.
  return owners;
}

/** Waits (up to `seconds`) until the write buffer holds nothing pending or in flight. */
async function waitDrained(origin, seconds = 30) {
  let health = null;
  for (let i = 0; i < seconds * 10; i++) {
    health = await bufferHealth(origin);
    if (health.depth === 0 && health.inFlightIntents === 0) return health;
    await sleep(100);
  }
  return health;
}

/** Redis' calls and µs per command (commandstats) and its CPU seconds (user + sys). */
async function redisStats({ redis }) {
  const calls = {};
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    calls[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  const cpu = await redis.info('cpu');
  const seconds = (name) => Number(cpu.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1] ?? 0);
  return { calls, cpuSeconds: seconds('used_cpu_user') + seconds('used_cpu_sys') };
}

/** Per-send Redis figures between two `redisStats`; the INFO calls of this script left out. */
function redisPerSend(a, b, sends) {
  const perCommand = {};
  let total = 0;
  for (const [command, { calls, usec }] of Object.entries(b.calls)) {
    if (command === 'info') continue;
    const delta = calls - (a.calls[command]?.calls ?? 0);
    if (delta <= 0) continue;
    total += delta;
    perCommand[command] = { perSend: delta / sends, usecPerSend: (usec - (a.calls[command]?.usec ?? 0)) / sends };
  }
  return {
    commandsPerSend: total / sends,
    perCommand: Object.fromEntries(Object.entries(perCommand).sort((x, y) => y[1].perSend - x[1].perSend)),
    cpuMicrosPerSend: ((b.cpuSeconds - a.cpuSeconds) * 1e6) / sends,
  };
}

/** SCAN of the run's rate-limit counters: how many and the largest (ZCARD), by policy. */
async function counterKeys({ redis }, prefix) {
  const byPolicy = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}rate-limit:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const policy = key.slice(`${prefix}rate-limit:{`.length).split(':')[0];
      const size = await redis.zcard(key);
      const p = (byPolicy[policy] ??= { keys: 0, largest: 0, subjects: [] });
      p.keys++;
      p.largest = Math.max(p.largest, size);
      if (p.subjects.length < 30) p.subjects.push(key.slice(`${prefix}rate-limit:{${policy}:`.length, -1));
    }
  } while (cursor !== '0');
  return byPolicy;
}

/** One sendMessage with every header: what a target's RateLimit headers say of one send. */
async function probeSend(origin, token, botId) {
  const res = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: SEND, variables: { i: { botId, text: 'Do you have oat milk?' } } }),
  });
  const body = await res.json();
  return {
    status: res.status,
    ok: Boolean(body.data?.sendMessage?.message?.id),
    ratelimitPolicy: res.headers.get('ratelimit-policy'),
    ratelimit: res.headers.get('ratelimit'),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. What the limiter costs a send

/**
 * `total` closed-loop sends of `owner` to its one bot from `connections` clients (sender: a
 * conversation per SENDS_PER_CONVERSATION sends); a 429 is an error here, not retried.
 */
async function closedSends(origin, token, owner, total, connections, sendsPerConversation) {
  const run = await closedLoop({
    origins: [origin],
    token,
    connections,
    total,
    client: sender([owner.botId], sendsPerConversation),
    timeoutMillis: cfg.requestTimeoutSeconds * 1000,
    retries: 0,
  });
  const { timeline: _timeline, samples, outcomes, ...summary } = run;
  const { ok: _ok, ...errorCodes } = outcomes;
  return { ...summary, errorCodes, errorSamples: samples };
}

async function costRun(h, targets, dist, owner, enabled, round) {
  const id = `cost-${enabled ? 'on' : 'off'}-${round}`;
  const port = cfg.basePort + (enabled ? 0 : 1);
  const origin = `http://127.0.0.1:${port}`;
  const limit = String(cfg.costLimit);
  h.log(`${id}: api + worker on ${origin}, RATE_LIMIT_ENABLED=${enabled}`);
  const limitsEnv = {
    RATE_LIMIT_ENABLED: String(enabled),
    RATE_LIMIT_WINDOW_SECONDS: '60',
    RATE_LIMIT_GLOBAL_PER_MIN: limit,
    RATE_LIMIT_USER_PER_MIN: limit,
    RATE_LIMIT_IP_PER_MIN: limit,
    RATE_LIMIT_BOT_PER_MIN: limit,
  };
  const target = await targets.start('parley', dist, owner, { id, port, env: limitsEnv });
  const { token, prefix } = target;
  const api = target.apis[0];
  const { worker } = target;
  const headers = await probeSend(origin, token, owner.botId);
  const load = (total) => closedSends(origin, token, owner, total, cfg.costConnections, cfg.sendsPerConversation);
  const warmup = await load(Math.max(cfg.costWarmupSends, cfg.costConnections));
  await waitDrained(origin);
  await sleep(500);

  const redis0 = await redisStats(h);
  const cpu0 = h.cpuSample();
  const api0 = processCpuSeconds(api.pid);
  const worker0 = processCpuSeconds(worker.pid);
  const result = await load(cfg.costSends);
  const api1 = processCpuSeconds(api.pid);
  const worker1 = processCpuSeconds(worker.pid);
  const cpu1 = h.cpuSample();
  const redis1 = await redisStats(h);

  const drained = await waitDrained(origin);
  const counters = await counterKeys(h, prefix);
  const logs = await targets.stop(target);
  const r = {
    id,
    enabled,
    round,
    headers,
    warmup: { sends: warmup.requests, acked: warmup.acked, errors: warmup.errors },
    ...result,
    apiCpuMillisPerSend: ((api1 - api0) * 1000) / cfg.costSends,
    workerCpuMillisPerSend: ((worker1 - worker0) * 1000) / cfg.costSends,
    redis: redisPerSend(redis0, redis1, cfg.costSends),
    counters,
    drained: drained?.depth === 0 && drained?.inFlightIntents === 0,
    machine: h.cpuBetween(cpu0, cpu1),
    logs,
  };
  h.log(
    `${id}: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50, 1)} p99 ${fmt(r.p99, 1)} ms, ${r.errors} errors, api ${fmt(r.apiCpuMillisPerSend, 3)} CPU ms/send, Redis ${fmt(r.redis.commandsPerSend, 2)} commands/send`,
  );
  return r;
}

// ---------------------------------------------------------------------------------------------
// 2. Three times the limit

/** Fires `n` sends at `rate`/s from `t00 + offset`, whatever the answers (open loop); keeps each answer. */
async function openLoopUser({ origin, token, botId, address, rate, n, t00, offset, out, poolStats }) {
  const pool = new Pool(origin, {
    connections: cfg.burstConnectionsPerUser,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    localAddress: address,
  });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const timeout = cfg.requestTimeoutSeconds * 1000;
  const period = 1000 / rate;
  const pending = [];
  const one = async (k, due) => {
    // The write benchmark's few repeated questions, each send in a new conversation.
    const body = JSON.stringify({ query: SEND, variables: { i: { botId, text: TEXTS[k % TEXTS.length] } } });
    const t0 = performance.now();
    const row = { k, sched: due - t00, t0: t0 - t00, t1: null, status: 0 };
    const res = await postGraphql(pool, headers, body, timeout);
    row.t1 = performance.now() - t00;
    if (res.statusCode === 0) {
      row.code = res.error.code ?? res.error.name ?? 'client error';
      row.message = String(res.error).slice(0, 200);
    } else {
      const { text } = res;
      row.status = res.statusCode;
      row.retryAfter = res.headers['retry-after'] ?? null;
      row.ratelimit = res.headers['ratelimit'] ?? null;
      row.ratelimitPolicy = res.headers['ratelimit-policy'] ?? null;
      try {
        const answer = JSON.parse(text);
        row.admitted = Boolean(answer.data?.sendMessage?.message?.id);
        const error = answer.errors?.[0];
        row.code = error?.extensions?.code ?? null;
        row.extRetryAfter = error?.extensions?.retryAfter ?? null;
        row.message = error?.message ?? null;
      } catch {
        row.code = 'not JSON';
        row.message = text.slice(0, 200);
      }
    }
    out.push(row);
  };
  for (let k = 0; k < n; k++) {
    const due = t00 + offset + k * period;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    poolStats.peakQueued = Math.max(poolStats.peakQueued, pool.stats.queued ?? 0);
    pending.push(one(k, due));
  }
  await Promise.all(pending);
  poolStats.peakConnected = Math.max(poolStats.peakConnected, pool.stats.connected);
  await pool.close();
}

/** `parley_rate_limit_decisions_total` by "POLICY outcome", from /metrics (asked from `address`). */
async function decisions(origin, address) {
  const pool = new Pool(origin, { connections: 1, localAddress: address });
  try {
    const res = await pool.request({ path: '/metrics', method: 'GET' });
    const text = await res.body.text();
    const counts = {};
    for (const m of text.matchAll(/^parley_rate_limit_decisions_total\{policy="(\w+)",outcome="(\w+)"\} (\d+)/gm))
      counts[`${m[1]} ${m[2]}`] = Number(m[3]);
    return { status: res.statusCode, counts };
  } finally {
    await pool.close();
  }
}

async function getStatus(origin, path, address) {
  const pool = new Pool(origin, { connections: 1, localAddress: address });
  try {
    const res = await pool.request({ path, method: 'GET' });
    await res.body.text();
    return res.statusCode;
  } finally {
    await pool.close();
  }
}

/**
 * The counter that refused a 429: the one with nothing left in its RateLimit header (all of a
 * request's counters are checked at once and all are reported; the first exhausted one in the
 * header's order is the one the error names).
 */
const refusedBy = (ratelimit) => {
  const exhausted = ratelimit
    ?.split(',')
    .map((item) => item.match(/^\s*"(\w+)";r=(\d+)/))
    .find((match) => match && match[2] === '0');
  return exhausted ? exhausted[1].toUpperCase() : null;
};

const summary = (values) => {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  return sorted.length
    ? {
        n: sorted.length,
        min: sorted[0],
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        max: sorted.at(-1),
      }
    : { n: 0 };
};

/**
 * The most admissions of one user that can have fallen in one window, from the client's send
 * (t0) and answer (t1) times: each admission happened in Redis between the two.
 * - certain: sends whose whole [t0, t1] lies in [t0_i, t0_i + W) for some i, i.e. admitted
 *   less than W apart whatever happened inside; above the limit is a certain violation.
 * - possible: the most that could be less than W apart given the intervals; at or under the
 *   limit rules a violation out entirely.
 */
function windowCounts(admitted, windowMillis) {
  const rows = [...admitted].sort((a, b) => a.t0 - b.t0);
  let certain = 0;
  let possible = 0;
  for (let i = 0; i < rows.length; i++) {
    let c = 0;
    let p = 0;
    for (let k = 0; k < rows.length; k++) {
      if (rows[k].t0 >= rows[i].t0 && rows[k].t1 < rows[i].t0 + windowMillis) c++;
      if (rows[k].t1 >= rows[i].t0 && rows[k].t0 < rows[i].t1 + windowMillis) p++;
    }
    certain = Math.max(certain, c);
    possible = Math.max(possible, p);
  }
  return { certain, possible };
}

function analyseUser(user, rows, windowMillis, limit, rate) {
  const codes = {};
  for (const r of rows) codes[r.status || r.code] = (codes[r.status || r.code] ?? 0) + 1;
  const admitted = rows.filter((r) => r.status === 200 && r.admitted);
  const refused = rows.filter((r) => r.status === 429);
  /** 200s without a sendMessage payload (a GraphQL error with 200). */
  const failed200 = rows.filter((r) => r.status === 200 && !r.admitted);
  const first = Math.min(...rows.map((r) => r.t0));
  const last = Math.max(...rows.map((r) => r.t1 ?? r.t0));
  const seconds = (last - first) / 1000;
  const window = windowCounts(admitted, windowMillis);
  // 429s: Retry-After (header) an integer ≥ 1 and ≤ the window, the same as extensions.retryAfter,
  // RATE_LIMITED, with both RateLimit headers.
  const bad429 = refused.filter(
    (r) =>
      !/^\d+$/.test(r.retryAfter ?? '') ||
      Number(r.retryAfter) < 1 ||
      Number(r.retryAfter) > windowMillis / 1000 ||
      Number(r.retryAfter) !== r.extRetryAfter ||
      r.code !== 'RATE_LIMITED' ||
      !r.ratelimit ||
      !r.ratelimitPolicy,
  );
  // 200s carry the RateLimit headers too.
  const bad200 = admitted.filter((r) => !r.ratelimit || !r.ratelimitPolicy);
  // Retry-After against what happened: the user's next admitted send after a 429 went out
  // `slack` ms after (answer + Retry-After). Retry-After rounds up to whole seconds, so the
  // slot is free by then: slack within (-1000 - latency, one send interval + lag] is right;
  // more means a client that waited Retry-After would have been refused (understated).
  const byT0 = [...admitted].sort((a, b) => a.t0 - b.t0);
  const slacks = [];
  let j = 0;
  for (const r of [...refused].sort((a, b) => a.t1 - b.t1)) {
    while (j < byT0.length && byT0[j].t0 < r.t1) j++;
    if (j >= byT0.length) break;
    if (!/^\d+$/.test(r.retryAfter ?? '')) continue;
    slacks.push({
      slack: byT0[j].t0 - (r.t1 + Number(r.retryAfter) * 1000),
      latency: r.t1 - r.t0,
      lag: byT0[j].t0 - byT0[j].sched,
    });
  }
  const interval = 1000 / rate;
  return {
    user,
    sent: rows.length,
    codes,
    admitted: admitted.length,
    refused: refused.length,
    failed200: failed200.length,
    failed200Sample: failed200.slice(0, 3).map((r) => `${r.code}: ${r.message}`),
    refusedBy: refused.reduce((acc, r) => {
      const p = refusedBy(r.ratelimit) ?? '?';
      acc[p] = (acc[p] ?? 0) + 1;
      return acc;
    }, {}),
    seconds,
    admittedPerSecond: admitted.length / seconds,
    limitPerSecond: limit / (windowMillis / 1000),
    maxInWindow: window,
    bad429: bad429.length,
    bad429Sample: bad429.slice(0, 3),
    bad200: bad200.length,
    retryAfterValues: summary(refused.map((r) => Number(r.retryAfter))),
    retryAfterSlackMs: summary(slacks.map((s) => s.slack)),
    // Allowing for the 429's own latency (it was decided before its answer was read) and for
    // the load generator sending late.
    retryAfterUnderstated: slacks.filter((s) => s.slack > interval + s.lag + 100).length,
    retryAfterOverstated: slacks.filter((s) => s.slack < -1000 - s.latency - 100).length,
    // The admissions come in bursts: a window's worth at once, then none until the oldest leave.
    admittedPerSecondTimeline: (() => {
      const bins = Array.from({ length: Math.ceil(cfg.burstSeconds) + 1 }, () => 0);
      for (const r of admitted) bins[Math.min(bins.length - 1, Math.floor(r.t1 / 1000))]++;
      return bins;
    })(),
  };
}

const csvText = (s) => `"${(s ?? '').replaceAll('"', '""')}"`;

async function burstRun(h, targets, dist, owners) {
  const id = 'burst';
  const port = cfg.basePort + 2;
  const origin = `http://127.0.0.1:${port}`;
  const W = cfg.burstWindowSeconds;
  const limitsEnv = {
    RATE_LIMIT_ENABLED: 'true',
    RATE_LIMIT_WINDOW_SECONDS: String(W),
    RATE_LIMIT_GLOBAL_PER_MIN: String(cfg.burstGlobalLimit),
    RATE_LIMIT_USER_PER_MIN: String(cfg.burstUserLimit),
    RATE_LIMIT_IP_PER_MIN: String(cfg.burstIpLimit),
    RATE_LIMIT_BOT_PER_MIN: String(cfg.burstBotLimit),
  };
  h.log(`${id}: api + worker on ${origin}, ${JSON.stringify(limitsEnv)}`);
  // Started for (and logged in as) the warm-up's owner; the users log in on it below.
  const target = await targets.start('parley', dist, owners.warm, { id, port, env: limitsEnv });
  const api = target.apis[0];
  const users = [
    ...Array.from({ length: cfg.burstUsers }, (_, u) => ({ ...owners[`user${u}`], address: addressOf(u) })),
    { ...owners.enterprise, address: addressOf(cfg.burstUsers) },
  ];
  for (const user of users) user.token = await logInToken(origin, user);

  // Warm-up (JIT, pools, both the admitted and the refused path) by another owner from 127.0.0.1.
  const warm = await closedSends(origin, target.token, owners.warm, cfg.burstWarmupSends, 10, 1);
  h.log(`${id}: warm-up ${JSON.stringify(warm.httpCodes)}`);
  await waitDrained(origin);
  const metrics0 = await decisions(origin, '127.0.0.1');

  const n = Math.round(cfg.burstRate * cfg.burstSeconds);
  h.log(
    `${id}: ${users.length} users (${cfg.burstUsers} FREE + 1 ENTERPRISE) × ${n} sends at ${cfg.burstRate}/s, open loop, ${cfg.burstSeconds} s`,
  );
  const period = 1000 / cfg.burstRate;
  const t00 = performance.now() + 200;
  const perUser = users.map(() => []);
  const poolStats = { peakQueued: 0, peakConnected: 0 };
  const cpu0 = h.cpuSample();
  const api0 = processCpuSeconds(api.pid);
  const wall0 = performance.now();
  // Mid-run, from the first user's address while it is over its limit: health and metrics answer.
  const midRun = (async () => {
    await sleep(200 + (cfg.burstSeconds * 1000) / 2);
    return {
      healthDb: await getStatus(origin, '/health/db', addressOf(0)),
      metrics: await getStatus(origin, '/metrics', addressOf(0)),
    };
  })();
  await Promise.all(
    users.map((user, u) =>
      openLoopUser({
        origin,
        token: user.token,
        botId: user.botId,
        address: user.address,
        rate: cfg.burstRate,
        n,
        t00,
        offset: (u / users.length) * period,
        out: perUser[u],
        poolStats,
      }),
    ),
  );
  const api1 = processCpuSeconds(api.pid);
  const wall1 = performance.now();
  const cpu1 = h.cpuSample();
  const unlimitedRoutes = await midRun;
  const metrics1 = await decisions(origin, addressOf(0));
  const counters = await counterKeys(h, target.prefix);
  const drained = await waitDrained(origin);
  const logs = await targets.stop(target);

  const windowMillis = W * 1000;
  const free = users
    .slice(0, cfg.burstUsers)
    .map((user, u) =>
      analyseUser(`user${u} (${user.address})`, perUser[u], windowMillis, cfg.burstUserLimit, cfg.burstRate),
    );
  const enterprise = analyseUser(
    `enterprise (${users.at(-1).address})`,
    perUser.at(-1),
    windowMillis,
    cfg.burstUserLimit,
    cfg.burstRate,
  );
  const all = perUser.flat();
  const freeRows = perUser.slice(0, cfg.burstUsers).flat();
  const codes = {};
  for (const r of all) codes[r.status || r.code] = (codes[r.status || r.code] ?? 0) + 1;
  const latency = (rows) => summary(rows.map((r) => r.t1 - r.t0));
  const metricsDelta = Object.fromEntries(
    Object.entries(metrics1.counts)
      .map(([k, v]) => [k, v - (metrics0.counts[k] ?? 0)])
      .filter(([, v]) => v > 0),
  );
  const allAdmitted = Array.from({ length: Math.ceil(cfg.burstSeconds) + 1 }, (_, s) =>
    free.reduce((acc, f) => acc + f.admittedPerSecondTimeline[s], 0),
  );
  writeFileSync(
    join(h.outDir, 'burst-requests.csv'),
    [
      'user,k,sched_ms,t0_ms,t1_ms,status,admitted,code,retry_after,ext_retry_after,refused_by,ratelimit,ratelimit_policy,message',
      ...perUser.flatMap((rows, u) =>
        rows
          .sort((a, b) => a.k - b.k)
          .map((r) =>
            [
              u === cfg.burstUsers ? 'enterprise' : `user${u}`,
              r.k,
              r.sched.toFixed(1),
              r.t0.toFixed(1),
              r.t1?.toFixed(1) ?? '',
              r.status,
              r.admitted ? 1 : 0,
              r.code ?? '',
              r.retryAfter ?? '',
              r.extRetryAfter ?? '',
              refusedBy(r.ratelimit) ?? '',
              csvText(r.ratelimit),
              csvText(r.ratelimitPolicy),
              csvText(r.message),
            ].join(','),
          ),
      ),
    ].join('\n') + '\n',
  );
  const lag = summary(all.map((r) => r.t0 - r.sched));
  return {
    id,
    limits: limitsEnv,
    users: users.length,
    sendsPerUser: n,
    codes,
    fiveXX: all.filter((r) => r.status >= 500).length,
    other: all.filter((r) => r.status !== 200 && r.status !== 429).length,
    free,
    enterprise,
    latency: {
      admitted: latency(freeRows.filter((r) => r.status === 200)),
      refused: latency(freeRows.filter((r) => r.status === 429)),
      enterprise: latency(perUser.at(-1).filter((r) => r.status === 200)),
      // Without the first second: 21 users, bots and sessions nobody asked for yet, 200+ new sockets.
      admittedAfter1s: latency(freeRows.filter((r) => r.status === 200 && r.t0 >= 1000)),
      refusedAfter1s: latency(freeRows.filter((r) => r.status === 429 && r.t0 >= 1000)),
      enterpriseAfter1s: latency(perUser.at(-1).filter((r) => r.status === 200 && r.t0 >= 1000)),
    },
    sendLag: lag,
    poolStats,
    allAdmittedPerSecond: allAdmitted,
    metricsDelta,
    metricsStatus: metrics1.status,
    unlimitedRoutes,
    counters,
    drained: drained?.depth === 0 && drained?.inFlightIntents === 0,
    apiCpuPercentOfOneCore: ((api1 - api0) * 100) / ((wall1 - wall0) / 1000),
    sampleHeaders: Object.fromEntries(
      [
        ['FREE 200', freeRows.find((r) => r.status === 200)],
        ['FREE 429', freeRows.find((r) => r.status === 429)],
        ['ENTERPRISE 200', perUser.at(-1).find((r) => r.status === 200)],
      ].map(([k, r]) => [
        k,
        r && {
          retryAfter: r.retryAfter,
          ratelimitPolicy: r.ratelimitPolicy,
          ratelimit: r.ratelimit,
          message: r.message,
        },
      ]),
    ),
    machine: h.cpuBetween(cpu0, cpu1),
    warmup: { httpCodes: warm.httpCodes, errorCodes: warm.errorCodes },
    logs,
  };
}

// ---------------------------------------------------------------------------------------------

const int = (x) => x.toLocaleString('en');

function printCost(runs) {
  console.log(
    `\n1. What the limiter costs a send: ${int(cfg.costSends)} sendMessage per run after ${int(cfg.costWarmupSends)} warm-up sends, closed loop, c=${cfg.costConnections}, one FREE owner, one bot, ${cfg.sendsPerConversation} sends per conversation; api + 1 worker, REDIS_ENABLED=true; "on" = RATE_LIMIT_ENABLED=true with every limit ${int(cfg.costLimit)} per 60 s (nothing refused: 4 counter checks per send), "off" = RATE_LIMIT_ENABLED=false; runs in the order shown\n`,
  );
  console.log(
    '| run | rate limits | req/s | p50 ms | p95 ms | p99 ms | HTTP codes | errors | api CPU ms / send | Redis commands / send (EVALSHA) | Redis CPU µs / send | CPU busy (foreign node) |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs) {
    if (r.failed) {
      console.log(`| ${r.id} | ${r.enabled ? 'on' : 'off'} | failed: ${r.failed.slice(0, 120)} | | | | | | | | | |`);
      continue;
    }
    const codes = Object.entries(r.httpCodes)
      .map(([code, n]) => `${code}: ${int(n)}`)
      .join(', ');
    console.log(
      `| ${r.id} | ${r.enabled ? 'on' : 'off'} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 1)} | ${fmt(r.p95, 1)} | ${fmt(r.p99, 1)} | ${codes} | ${r.errors} | ${fmt(r.apiCpuMillisPerSend, 3)} | ${fmt(r.redis.commandsPerSend, 2)} (${fmt(r.redis.perCommand.evalsha?.perSend ?? 0, 2)}) | ${fmt(r.redis.cpuMicrosPerSend, 1)} | ${fmt(r.machine.busyPercent, 0)} % (${fmt(r.machine.foreignNodePercent, 0)} %) |`,
    );
  }
  const ok = runs.filter((r) => !r.failed);
  const on = ok.filter((r) => r.enabled);
  const off = ok.filter((r) => !r.enabled);
  if (!on.length || !off.length) return null;
  const keys = [
    ['req/s', (r) => r.rps, 0],
    ['p50 ms', (r) => r.p50, 1],
    ['p95 ms', (r) => r.p95, 1],
    ['p99 ms', (r) => r.p99, 1],
    ['api CPU ms / send', (r) => r.apiCpuMillisPerSend, 3],
    ['Redis commands / send', (r) => r.redis.commandsPerSend, 2],
    ['Redis CPU µs / send', (r) => r.redis.cpuMicrosPerSend, 1],
  ];
  console.log(`\nMedians of ${on.length} "on" and ${off.length} "off" runs:\n`);
  console.log('| figure | on (median) | off (median) | on ÷ off | on − off | on: every run | off: every run |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- | --- |');
  const medians = {};
  for (const [name, f, d] of keys) {
    const a = median(on.map(f));
    const b = median(off.map(f));
    medians[name] = { on: a, off: b, ratio: a / b, delta: a - b };
    console.log(
      `| ${name} | ${fmt(a, d)} | ${fmt(b, d)} | ${fmt(a / b, 3)} | ${a - b >= 0 ? '+' : ''}${fmt(a - b, d)} | ${on.map((r) => fmt(f(r), d)).join(' / ')} | ${off.map((r) => fmt(f(r), d)).join(' / ')} |`,
    );
  }
  const commands = (rs) => {
    const all = {};
    for (const r of rs) for (const [c, v] of Object.entries(r.redis.perCommand)) (all[c] ??= []).push(v.perSend);
    return Object.fromEntries(Object.entries(all).map(([c, v]) => [c, median(v)]));
  };
  const cOn = commands(on);
  const cOff = commands(off);
  const deltas = [...new Set([...Object.keys(cOn), ...Object.keys(cOff)])]
    .map((c) => [c, (cOn[c] ?? 0) - (cOff[c] ?? 0)])
    .filter(([, d]) => Math.abs(d) >= 0.05)
    .sort((x, y) => y[1] - x[1]);
  console.log(
    `\nRedis commands per send, on − off, by command (medians; Redis counts a script's own calls too): ${deltas
      .map(([c, d]) => `${c} ${d >= 0 ? '+' : ''}${fmt(d, 2)}`)
      .join(', ')}. With the limits off: ${Object.entries(cOff)
      .filter(([, v]) => v >= 0.05)
      .sort((x, y) => y[1] - x[1])
      .map(([c, v]) => `${c} ${fmt(v, 2)}`)
      .join(', ')}.`,
  );
  const sample = on[0].headers;
  console.log(
    `RateLimit headers of a send, "on": RateLimit-Policy: ${sample.ratelimitPolicy}; RateLimit: ${sample.ratelimit}. "off": ${off[0].headers.ratelimitPolicy === null && off[0].headers.ratelimit === null ? 'none' : JSON.stringify(off[0].headers)}.`,
  );
  console.log(
    `Counters after each "on" run (keys, largest ZCARD): ${on
      .map(
        (r) =>
          `${r.id} ${Object.entries(r.counters)
            .map(([p, c]) => `${p} ${c.keys}×${c.largest}`)
            .join(' ')}`,
      )
      .join('; ')}`,
  );
  return medians;
}

function printBurst(b) {
  const W = cfg.burstWindowSeconds;
  const limit = cfg.burstUserLimit;
  console.log(
    `\n2. Three times the limit: RATE_LIMIT_WINDOW_SECONDS=${W}, USER ${limit}, IP ${cfg.burstIpLimit}, BOT ${cfg.burstBotLimit}, GLOBAL ${int(cfg.burstGlobalLimit)} per window; ${cfg.burstUsers} FREE owners (own bot, own address 127.0.0.10–${10 + cfg.burstUsers - 1}) + 1 ENTERPRISE owner (own bot, ${addressOf(cfg.burstUsers)}), each ${cfg.burstRate} sendMessage/s open loop for ${cfg.burstSeconds} s (${int(b.sendsPerUser)} each; limit ${fmt(limit / W, 1)}/s, so ${fmt((cfg.burstRate * W) / limit, 1)}×)\n`,
  );
  const codes = Object.entries(b.codes)
    .map(([code, n]) => `${code}: ${int(n)}`)
    .join(', ');
  console.log(`HTTP codes, all ${b.users} users: ${codes}; 5xx: ${b.fiveXX}; other than 200/429: ${b.other}\n`);
  const range = (xs, d = 1) => {
    const s = [...xs].sort((x, y) => x - y);
    return `${fmt(s[0], d)} / ${fmt(median(s), d)} / ${fmt(s.at(-1), d)}`;
  };
  console.log(
    `| users | sent each | 200 each (min / median / max) | 429 each | admitted/s each | limit/s | admitted ÷ limit | most admitted in any ${W} s (certain / possible, worst user) | 429 refused by | 429 with bad headers | 200 without RateLimit | Retry-After s (min–max) | next admission − (429 + Retry-After) ms (min / p50 / max) |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |');
  const row = (label, us) => {
    const refusedBy = {};
    for (const u of us) for (const [p, n] of Object.entries(u.refusedBy)) refusedBy[p] = (refusedBy[p] ?? 0) + n;
    const slack = us.flatMap((u) => (u.retryAfterSlackMs.n ? [u.retryAfterSlackMs] : []));
    const ra = us.flatMap((u) => (u.retryAfterValues.n ? [u.retryAfterValues] : []));
    console.log(
      `| ${label} | ${range(
        us.map((u) => u.sent),
        0,
      )} | ${range(
        us.map((u) => u.admitted),
        0,
      )} | ${range(
        us.map((u) => u.refused),
        0,
      )} | ${range(us.map((u) => u.admittedPerSecond))} | ${fmt(limit / W, 1)} | ${range(
        us.map((u) => u.admittedPerSecond / (limit / W)),
        2,
      )} | ${Math.max(...us.map((u) => u.maxInWindow.certain))} / ${Math.max(...us.map((u) => u.maxInWindow.possible))} | ${
        Object.entries(refusedBy)
          .map(([p, n]) => `${p}: ${int(n)}`)
          .join(', ') || '–'
      } | ${us.reduce((a, u) => a + u.bad429, 0)} | ${us.reduce((a, u) => a + u.bad200, 0)} | ${
        ra.length ? `${Math.min(...ra.map((s) => s.min))}–${Math.max(...ra.map((s) => s.max))}` : '–'
      } | ${
        slack.length
          ? `${fmt(Math.min(...slack.map((s) => s.min)), 0)} / ${fmt(median(slack.map((s) => s.p50)), 0)} / ${fmt(Math.max(...slack.map((s) => s.max)), 0)}`
          : '–'
      } |`,
    );
  };
  row(`${cfg.burstUsers} FREE`, b.free);
  row('1 ENTERPRISE', [b.enterprise]);
  console.log('\nLatency (send → answer read), ms:\n');
  console.log('| answers | n | p50 | p95 | p99 | max |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, s] of [
    ['200, FREE users (admitted)', b.latency.admitted],
    ['429, FREE users (refused)', b.latency.refused],
    ['200, ENTERPRISE user', b.latency.enterprise],
    ['200, FREE users, sent after the first second', b.latency.admittedAfter1s],
    ['429, FREE users, sent after the first second', b.latency.refusedAfter1s],
    ['200, ENTERPRISE user, sent after the first second', b.latency.enterpriseAfter1s],
  ])
    console.log(
      `| ${label} | ${int(s.n)} | ${fmt(s.p50, 1)} | ${fmt(s.p95, 1)} | ${fmt(s.p99, 1)} | ${fmt(s.max, 1)} |`,
    );
  console.log(
    `\nAdmitted per second, all ${cfg.burstUsers} FREE users (second 0 first): ${b.allAdmittedPerSecond.join(' ')}`,
  );
  console.log(
    `Server's parley_rate_limit_decisions_total during the burst: ${JSON.stringify(b.metricsDelta)}; /health/db ${b.unlimitedRoutes.healthDb} and /metrics ${b.unlimitedRoutes.metrics} mid-run from ${addressOf(0)} (over its limit then)`,
  );
  console.log(
    `Counters in Redis after (keys, largest ZCARD): ${Object.entries(b.counters)
      .map(([p, c]) => `${p} ${c.keys}×${c.largest}`)
      .join(', ')}; IP subjects: ${b.counters.ip?.subjects.sort().join(' ') ?? '–'}`,
  );
  for (const [k, s] of Object.entries(b.sampleHeaders))
    if (s)
      console.log(
        `Headers of a ${k}: ${s.retryAfter ? `Retry-After: ${s.retryAfter}; ` : ''}RateLimit-Policy: ${s.ratelimitPolicy}; RateLimit: ${s.ratelimit}${s.message ? `; "${s.message}"` : ''}`,
      );
  console.log(
    `Load generator: sends went out ${fmt(b.sendLag.p50, 1)} ms (p50) / ${fmt(b.sendLag.max, 1)} ms (max) after their scheduled time; peak ${b.poolStats.peakQueued} queued in a user's pool; machine busy ${fmt(b.machine.busyPercent, 0)} % (foreign node ${fmt(b.machine.foreignNodePercent, 0)} %), the api ${fmt(b.apiCpuPercentOfOneCore, 0)} % of a core`,
  );
}

function burstChecks(b) {
  const W = cfg.burstWindowSeconds;
  const limit = cfg.burstUserLimit;
  const free = b.free;
  const userRejected = free.reduce((a, u) => a + (u.refusedBy.USER ?? 0), 0);
  const checks = [
    [
      'only 200 (each with its sendMessage payload) and 429, no 5xx',
      b.other === 0 && b.fiveXX === 0 && [...free, b.enterprise].every((u) => u.failed200 === 0),
      `${b.fiveXX} 5xx, ${b.other} other, ${[...free, b.enterprise].reduce((a, u) => a + u.failed200, 0)} 200s with an error${[
        ...free,
        b.enterprise,
      ]
        .flatMap((u) => u.failed200Sample)
        .slice(0, 2)
        .map((s) => `; ${s}`)
        .join('')}`,
    ],
    [
      `no FREE user admitted more than ${limit} in any ${W} s (certain count from send/answer times)`,
      free.every((u) => u.maxInWindow.certain <= limit),
      `worst certain ${Math.max(...free.map((u) => u.maxInWindow.certain))}, worst possible ${Math.max(...free.map((u) => u.maxInWindow.possible))}`,
    ],
    [
      `every FREE user got the limit: at least ${limit} admitted in its first window`,
      free.every((u) => u.admittedPerSecondTimeline.slice(0, W).reduce((a, x) => a + x, 0) >= limit),
      `first-window admissions ${Math.min(...free.map((u) => u.admittedPerSecondTimeline.slice(0, W).reduce((a, x) => a + x, 0)))} at least`,
    ],
    [
      'every 429: RATE_LIMITED, Retry-After an integer in [1, window] equal to extensions.retryAfter, RateLimit and RateLimit-Policy headers',
      free.every((u) => u.bad429 === 0) && b.enterprise.bad429 === 0,
      `${free.reduce((a, u) => a + u.bad429, 0)} bad`,
    ],
    [
      'every 200 has RateLimit headers',
      free.every((u) => u.bad200 === 0),
      `${free.reduce((a, u) => a + u.bad200, 0)} without`,
    ],
    [
      'Retry-After not understated (next admission no later than 429 + Retry-After + one send interval + 100 ms)',
      free.every((u) => u.retryAfterUnderstated === 0),
      `${free.reduce((a, u) => a + u.retryAfterUnderstated, 0)} understated, ${free.reduce((a, u) => a + u.retryAfterOverstated, 0)} overstated by more than rounding`,
    ],
    [
      'the ENTERPRISE user is never refused (exempt from USER and IP; its bot under BOT)',
      b.enterprise.refused === 0 && b.enterprise.admitted === b.enterprise.sent,
      `${b.enterprise.admitted}/${b.enterprise.sent} admitted`,
    ],
    [
      "the server's USER rejections (/metrics) = the 429s seen",
      (b.metricsDelta['USER rejected'] ?? 0) === userRejected,
      `${b.metricsDelta['USER rejected'] ?? 0} counted, ${userRejected} seen`,
    ],
    [
      'health and metrics answer while the address is over its limit',
      b.unlimitedRoutes.healthDb === 200 && b.unlimitedRoutes.metrics === 200,
      JSON.stringify(b.unlimitedRoutes),
    ],
  ];
  console.log('\nChecks:');
  for (const [what, ok, detail] of checks) console.log(`- ${ok ? 'pass' : 'FAIL'}: ${what} (${detail})`);
  return checks.map(([what, ok, detail]) => ({ what, ok, detail }));
}

function printNotes(runs, burst) {
  const notes = [];
  for (const r of [...runs, ...(burst && !burst.failed ? [burst] : [])]) {
    if (r.failed) continue;
    if (r.machine.foreignNodePercent > 1)
      notes.push(
        `${r.id}: foreign node processes used ${fmt(r.machine.foreignNodePercent, 0)} % of the machine: ${r.machine.foreignTop.map((p) => `pid ${p.pid} (${p.cmd})`).join('; ')}`,
      );
    if (r.errors) notes.push(`${r.id}: errors ${JSON.stringify(r.errorCodes)} ${JSON.stringify(r.errorSamples)}`);
    if (!r.drained) notes.push(`${r.id}: the write buffer had not drained before the processes were stopped`);
    // By process: lib/targets.mjs names them after the run (cost-on-1-api0, cost-on-1-worker, …).
    for (const [name, s] of Object.entries(r.logs))
      for (const [line, n] of Object.entries(s.lines)) notes.push(`${name} log: ${n} × ${line}`);
  }
  console.log(`\nNotes:\n${notes.length ? notes.map((n) => `- ${n}`).join('\n') : '- none'}`);
}

await runScenario({ name: 'limits' }, async (h) => {
  await h.redis.connect();
  const commit = head();
  const dist = h.build();
  const targets = createTargets(h, { basePort: cfg.basePort });
  const owners = await seed(h, dist);
  const runs = [];
  for (let round = 1; round <= cfg.costRounds; round++)
    for (const enabled of [true, false]) {
      try {
        runs.push(await costRun(h, targets, dist, owners.cost, enabled, round));
      } catch (error) {
        h.log(`cost run ${round} ${enabled} failed:`, error);
        runs.push({ id: `cost-${enabled ? 'on' : 'off'}-${round}`, enabled, round, failed: String(error) });
        for (const child of [...h.children]) await stop(child).catch(() => undefined);
      }
    }
  let burst;
  try {
    burst = await burstRun(h, targets, dist, owners);
  } catch (error) {
    h.log('burst run failed:', error);
    burst = { id: 'burst', failed: String(error) };
    for (const child of [...h.children]) await stop(child).catch(() => undefined);
  }

  console.log(`\nRate-limit benchmark; HEAD ${commit}; ${h.versions()}`);
  const medians = printCost(runs);
  let checks = [];
  if (burst.failed) console.log(`\n2. Three times the limit: failed: ${burst.failed}`);
  else {
    printBurst(burst);
    checks = burstChecks(burst);
  }
  printNotes(runs, burst);
  writeFileSync(join(h.outDir, 'results.json'), JSON.stringify({ cfg, commit, runs, medians, burst, checks }, null, 2));
  console.log(`\nFull results (every burst answer in burst-requests.csv) and the api/worker logs: ${h.outDir}`);
  return [
    ...runs.filter((r) => r.failed).map((r) => `${r.id} failed`),
    ...runs.filter((r) => !r.failed && r.errors).map((r) => `${r.id}: ${r.errors} errors`),
    ...(burst.failed ? ['burst failed'] : []),
    ...checks.filter((c) => !c.ok).map((c) => `check: ${c.what}`),
  ];
});
