// `make bench-compare`: two builds of Parley side by side, at the same time, on one machine.
//
// Run one after the other, two builds of the same code differ by 10-20 % from run to run on
// this 2-core machine (other work on the cores, clock speed): a change of a few per cent
// cannot be seen that way. Here each build runs its own api + worker (its own Redis key
// prefix) on one seeded database, and both get the same closed-loop load at the same moment,
// round after round: whatever slows the machine slows both, and the ratio of their
// throughputs in each round is what is reported (median over the rounds, with the range).
// Each round is sends, then owner reads, as `make bench`'s throughput and read phases
// (same requests, rate limits off as there). The api's own CPU per request is read from /proc.
//
//   BEFORE_DIST=/path/to/old/dist AFTER_DIST=dist load/bench.sh compare
//
// Environment: TARGET (parley, or parley-cluster on the local Redis Cluster), BEFORE_ENV and
// AFTER_ENV (settings of one build only, e.g. AFTER_ENV=BUFFER_MIN_REPLICAS=1: one build against
// itself with and without a setting), BEFORE_DIST, AFTER_DIST (built trees: `npm ci && npm run build` in a worktree of
// each revision, with its node_modules beside its dist/), ROUNDS (12, in all), SESSIONS (4: each
// starts both builds afresh, in turn first and on the first port), ROUND_SECONDS (8, each of
// sends and reads), CONNECTIONS (50 per build), BOTS (10), SEND_TEXTS (unique), BASE_PORT (4721). Writes
// load/results/compare-<stamp>/report.md and report.json; exits 1 when a request failed.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { runScenario } from '../lib/harness.mjs';
import { closedLoop } from '../lib/loadgen.mjs';
import { processCpuMillis } from '../lib/processes.mjs';
import { seedOwner } from '../lib/seed.mjs';
import { median } from '../lib/stats.mjs';
import { createTargets } from '../lib/targets.mjs';
import { reader, sender } from '../lib/workload.mjs';

const env = process.env;
const settingsOf = (text = '') =>
  Object.fromEntries(
    text
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
const cfg = {
  before: env.BEFORE_DIST && resolve(env.BEFORE_DIST),
  after: env.AFTER_DIST && resolve(env.AFTER_DIST),
  rounds: Number(env.ROUNDS ?? 12),
  sessions: Number(env.SESSIONS ?? 4),
  roundSeconds: Number(env.ROUND_SECONDS ?? 8),
  connections: Number(env.CONNECTIONS ?? 50),
  bots: Number(env.BOTS ?? 10),
  /** 'unique' (every send a text of its own) or 'repeated' (five texts), as make bench's SEND_TEXTS. */
  sendTexts: env.SEND_TEXTS ?? 'unique',
  basePort: Number(env.BASE_PORT ?? 4721),
  /** `parley` (one Redis) or `parley-cluster` (the local Redis Cluster, 2 workers per build). */
  target: env.TARGET ?? 'parley',
  /** Settings of one build only, `NAME=value NAME=value`: the same code with and without a setting. */
  beforeEnv: settingsOf(env.BEFORE_ENV),
  afterEnv: settingsOf(env.AFTER_ENV),
};
if (!cfg.before || !cfg.after) {
  console.error('usage: BEFORE_DIST=<built tree>/dist AFTER_DIST=<built tree>/dist load/bench.sh compare');
  process.exit(2);
}

/** The same load on every build at once for `seconds`: requests/s, errors and api CPU per request each. */
async function together(builds, client, seconds) {
  const cpu0 = builds.map((b) => processCpuMillis(b.apis[0].pid));
  const runs = await Promise.all(
    builds.map((b) =>
      closedLoop({
        origins: b.origins,
        token: b.token,
        connections: cfg.connections,
        seconds,
        client,
        timeoutMillis: 60_000,
      }),
    ),
  );
  return runs.map((run, i) => ({
    perSecond: run.okPerSecond,
    p95: run.p95,
    errors: run.errors,
    cpuMillisPerRequest: (processCpuMillis(builds[i].apis[0].pid) - cpu0[i]) / Math.max(1, run.requests),
  }));
}

/** The commit a built tree was built from, when it sits in a git checkout (a worktree); else its path. */
function revisionOf(dist) {
  try {
    const tree = dirname(dist);
    const commit = execFileSync('git', ['-C', tree, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', tree, 'status', '--porcelain', '--', 'src', 'worker', 'schema'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${commit} with uncommitted changes` : commit;
  } catch {
    return dist;
  }
}

function summarise(rounds, phase) {
  const ratios = rounds.map((r) => r[phase].after.perSecond / r[phase].before.perSecond);
  const cpuRatios = rounds.map((r) => r[phase].after.cpuMillisPerRequest / r[phase].before.cpuMillisPerRequest);
  return {
    beforeMedian: median(rounds.map((r) => r[phase].before.perSecond)),
    afterMedian: median(rounds.map((r) => r[phase].after.perSecond)),
    ratioMedian: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    cpuRatioMedian: median(cpuRatios),
    beforeP95Median: median(rounds.map((r) => r[phase].before.p95)),
    afterP95Median: median(rounds.map((r) => r[phase].after.p95)),
    errors: rounds.reduce((sum, r) => sum + r[phase].before.errors + r[phase].after.errors, 0),
  };
}

/** ` with NAME=value …` for a build's own settings, '' without any. */
const withSettings = (settings) =>
  Object.keys(settings).length
    ? ` with ${Object.entries(settings)
        .map(([name, value]) => `${name}=${value}`)
        .join(' ')}`
    : '';

function renderReport(report) {
  const f = (x, d = 3) => x.toFixed(d);
  const row = (name, s) =>
    `| ${name} | ${Math.round(s.beforeMedian)} | ${Math.round(s.afterMedian)} | **${f(s.ratioMedian)}** | ${f(s.ratioMin)}–${f(s.ratioMax)} | ${f(s.beforeP95Median, 1)} → ${f(s.afterP95Median, 1)} | ${f(s.cpuRatioMedian)} | ${s.errors} |`;
  return [
    `# Before and after, side by side (${report.date})`,
    '',
    `- before: \`${report.before}\`${withSettings(cfg.beforeEnv)}`,
    `- after: \`${report.after}\`${withSettings(cfg.afterEnv)}`,
    `- target: ${cfg.target}`,
    `- ${report.rounds.length} rounds in ${cfg.sessions} sessions (each session starts both builds afresh, in turn first); each round: ${cfg.roundSeconds} s of sends, then ${cfg.roundSeconds} s of owner reads, ${cfg.connections} closed-loop connections per build, both builds at once (${cfg.target === 'parley-cluster' ? 'one api + two workers on the local Redis Cluster' : 'one api + worker'} each, ${cfg.bots} bots, rate limits off)`,
    `- machine: ${report.machine}`,
    '',
    '| phase | before /s (median) | after /s (median) | after ÷ before (median of rounds) | range | p95 ms, before → after (medians) | api CPU per request, after ÷ before | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('sends', report.sends),
    row('reads', report.reads),
    '',
    'Each round, by phase: after ÷ before.',
    '',
    '| round | session | sends | reads |',
    '| ---: | ---: | ---: | ---: |',
    ...report.rounds.map(
      (r, i) =>
        `| ${i + 1} | ${r.session} | ${f(r.sends.after.perSecond / r.sends.before.perSecond)} | ${f(r.reads.after.perSecond / r.reads.before.perSecond)} |`,
    ),
    '',
  ].join('\n');
}

await runScenario({ name: 'compare' }, async (h) => {
  const { log } = h;
  const targets = createTargets(h, { basePort: cfg.basePort });
  const owner = await seedOwner(h, cfg.after, { bots: cfg.bots, port: cfg.basePort + 8, name: 'compare' });
  const writes = sender(owner.botIds, 5, cfg.sendTexts);
  const nextRead = reader(owner.botIds);
  const reads = () => ({ next: nextRead, answered: () => undefined });
  const rounds = [];
  const perSession = Math.ceil(cfg.rounds / cfg.sessions);
  for (let session = 0; session < cfg.sessions && rounds.length < cfg.rounds; session++) {
    // Fresh processes each session, started and placed in turn: a process keeps its own luck
    // (what the JIT compiled, where its heap landed) for its life, worth a few per cent.
    const order = session % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
    const started = [];
    for (const [i, label] of order.entries()) {
      started.push(
        // Two ports apart: a cluster target's second worker takes the port after the first's.
        await targets.start(cfg.target, cfg[label], owner, {
          id: `${label}-${session + 1}`,
          port: cfg.basePort + 2 * i,
          env: cfg[`${label}Env`],
        }),
      );
    }
    const builds = order[0] === 'before' ? started : [started[1], started[0]];
    log(`session ${session + 1}: warming up both builds`);
    await together(builds, writes, 3);
    await together(builds, reads, 3);
    for (let i = 0; i < perSession && rounds.length < cfg.rounds; i++) {
      const [sendsBefore, sendsAfter] = await together(builds, writes, cfg.roundSeconds);
      const [readsBefore, readsAfter] = await together(builds, reads, cfg.roundSeconds);
      rounds.push({
        session: session + 1,
        sends: { before: sendsBefore, after: sendsAfter },
        reads: { before: readsBefore, after: readsAfter },
      });
      log(
        `round ${rounds.length}: sends ${Math.round(sendsBefore.perSecond)} → ${Math.round(sendsAfter.perSecond)}/s, reads ${Math.round(readsBefore.perSecond)} → ${Math.round(readsAfter.perSecond)}/s`,
      );
    }
    for (const b of builds) await targets.stop(b);
  }
  const report = {
    date: new Date().toISOString(),
    before: revisionOf(cfg.before),
    after: revisionOf(cfg.after),
    machine: `${cpus().length} cores, ${cpus()[0]?.model.trim()}, load average at the end ${loadavg()[0].toFixed(1)}`,
    config: cfg,
    sends: summarise(rounds, 'sends'),
    reads: summarise(rounds, 'reads'),
    rounds,
  };
  writeFileSync(join(h.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(h.outDir, 'report.md'), renderReport(report));
  console.log(renderReport(report));
  log(`report: ${join(h.outDir, 'report.md')}`);
  // Both builds must answer every request: a ratio of half-failed rounds would mean nothing.
  const errors = report.sends.errors + report.reads.errors;
  return errors > 0 ? [`${errors} requests failed`] : [];
});
