// `make bench-read`: the read phase of lib/phases.mjs alone, longer and over more bots, with the
// stale-read check: Parley with Redis, its rollback mode and the Apollo response-cache peer
// (load/peers/response-cache-peer.mjs), one after another on one seeded database with the same
// load. Per target: reads/s, p50/p95/p99, PostgreSQL transactions per read, cache hit rate, and
// stale reads (every second 3 of the hottest bots are renamed and read back 5 times: Parley must
// show 0, the peer serves its cached answer until its TTL).
//
// Every setting is an environment variable (lib/phases.mjs, SETTINGS; the defaults below).
// QUICK=1 and SMOKE=1 run it smaller. The report goes to the run's folder, load/results/read-<stamp>/.
import { runScenario } from '../lib/harness.mjs';
import { phaseConfig, runMode, runPhases } from '../lib/phases.mjs';

const mode = runMode();
const cfg = phaseConfig(mode, {
  BOTS: [100, 20, 3],
  WRITE_TARGETS: '',
  BURST_TARGETS: '',
  SENDS_BIG: 0,
  READ_TARGETS: 'parley,rollback,peer-response-cache',
  READ_CONNECTIONS: [100, 50, 10],
  READ_WARMUP_SECONDS: [10, 2, 1],
  READ_SECONDS: [40, 5, 2],
  STALE_UPDATES_PER_TICK: 3,
  MIXED_TARGETS: '',
  OVERLOAD_TARGETS: '',
  MEMORY_TARGETS: '',
  BASE_PORT: 4601,
});
await runScenario({ name: 'read' }, (h) =>
  runPhases(h, cfg, { title: 'Parley read benchmark', command: 'make bench-read', reportDir: h.outDir }),
);
