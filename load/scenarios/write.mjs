// `make bench-write`: the write phases of lib/phases.mjs for Parley with Redis (api + worker, the
// write buffer) and its rollback mode (every send one PostgreSQL transaction), side by side on
// one seeded database with one bot (every send updates that bot's row): SENDS from
// THROUGHPUT_CONNECTIONS (100) closed-loop clients, then from CONNECTIONS (1,000). Per run:
// sends/s, p50/p95/p99, errors, rows after the drain = 2 × acknowledged, drain time, PostgreSQL
// transactions and rows written per stored message, Redis commands per send.
//
// Every setting is an environment variable (lib/phases.mjs, SETTINGS; the defaults below).
// QUICK=1 and SMOKE=1 run it smaller. The report goes to the run's folder, load/results/write-<stamp>/.
import { runScenario } from '../lib/harness.mjs';
import { phaseConfig, runMode, runPhases } from '../lib/phases.mjs';

const mode = runMode();
const cfg = phaseConfig(mode, {
  BOTS: 1,
  WRITE_TARGETS: 'parley,rollback',
  THROUGHPUT_SENDS: [10_000, 2_000, 200],
  THROUGHPUT_CONNECTIONS: [100, 100, 20],
  BURST_TARGETS: 'parley,rollback',
  SENDS: [10_000, 2_000, 200],
  CONNECTIONS: [1_000, 500, 50],
  SENDS_BIG: 0,
  READ_TARGETS: '',
  MIXED_TARGETS: '',
  OVERLOAD_TARGETS: '',
  MEMORY_TARGETS: '',
  BASE_PORT: 4621,
});
await runScenario({ name: 'write' }, (h) =>
  runPhases(h, cfg, { title: 'Parley write benchmark', command: 'make bench-write', reportDir: h.outDir }),
);
