// `make bench`: Parley against its rollback mode and against the peers a team would otherwise
// pick, side by side in one run on one fresh database, and a report people can read: every
// phase of lib/phases.mjs.
//
// Targets (each started afresh for each run, compiled, NODE_ENV=production, rate limits off):
//   parley        REDIS_ENABLED=true: 1 api + 1 worker (the worker flushes the write buffer)
//   parley-2api   the same with 2 api instances; the load is split evenly between them
//   parley-cluster  the same on the local Redis Cluster (make cluster): 1 api + 2 workers, 3 masters
//   rollback      REDIS_ENABLED=false: 1 api, every send one PostgreSQL transaction
//   peer-direct, peer-bullmq (+ its worker), peer-floor, peer-response-cache (Apollo's plugin),
//   peer-yoga-cache (Yoga's useResponseCache): load/peers/
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
//            over the BOTS bots, 100 in full): req/s, hit rate, PostgreSQL transactions per read,
//            stale reads after renames (STALE_UPDATES_PER_TICK a second); last, the same over
//            MANY_BOTS (5,000: the seeded bots and copies made in SQL) for MANY_BOTS_READ_TARGETS
//   mixed    open-model arrivals at MIXED_RATE for MIXED_SECONDS, 70 % reads and 30 % sends:
//            p50/p95/p99 overall, by kind and per second
//   overload sends at OVERLOAD_FACTOR × the target's measured capacity for OVERLOAD_SECONDS:
//            status codes, Retry-After, recovery
// Every setting is an environment variable (lib/phases.mjs, SETTINGS). Writes
// load/results/<date>/ (full, committed), <date>-quick/ (QUICK=1) or the run's own folder
// (SMOKE=1): report.md, report.json and SVG charts. Exits 1 when a correctness check fails (a
// lost or doubled row, a 5xx other than 503, a 503/429 without Retry-After); targets missed
// are reported.
import { resolve } from 'node:path';
import { runScenario } from '../lib/harness.mjs';
import { phaseConfig, runMode, runPhases } from '../lib/phases.mjs';

const mode = runMode();
const date = new Date().toISOString().slice(0, 10);
await runScenario({ name: `bench-${mode}` }, (h) =>
  runPhases(h, phaseConfig(mode), {
    title: 'Parley benchmark',
    command: { full: 'make bench', quick: 'make bench QUICK=1', smoke: 'SMOKE=1 load/bench.sh' }[mode],
    reportDir:
      { full: resolve(h.outDir, '..', date), quick: resolve(h.outDir, '..', `${date}-quick`) }[mode] ?? h.outDir,
  }),
);
