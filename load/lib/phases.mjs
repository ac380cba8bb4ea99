// The phases every benchmark is made of, run against a target started afresh for each (targets.mjs)
// between fresh statistics (measured): writes (closed loop, then the drain: rows = 2 × acked),
// reads (closed loop; hit rate, PostgreSQL work per read; the stale-read check when asked),
// mixed (open-model arrivals, 70 % reads) and overload (open model at a multiple of the measured
// capacity, then the recovery). `runPhases` runs a scenario's choice of them on one seeded
// database and writes its report (report.mjs) and charts (charts.mjs).
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { head, sleep, stop } from './harness.mjs';
import { renderCharts } from './charts.mjs';
import { closePools, closedLoop, idleConnections, openLoop, openPools } from './loadgen.mjs';
import { processCpuMillis, residentBytes } from './processes.mjs';
import { bufferHealth, sampleBufferCommands, waitRows } from './observe.mjs';
import { checks, machine, renderReport } from './report.mjs';
import { cloneBots, seedOwner } from './seed.mjs';
import { LABELS, createTargets } from './targets.mjs';
import { reader, sender, staleReadCheck } from './workload.mjs';

/**
 * Every setting of the phases, by environment variable: its default in a full run, with QUICK=1
 * (every phase smaller, under 4 minutes) and with SMOKE=1 (the smallest run, for make test).
 * A scenario passes its own defaults; the environment overrides both.
 */
const SETTINGS = {
  BOTS: [100, 10, 3],
  THROUGHPUT_SENDS: [10_000, 2_000, 200],
  THROUGHPUT_CONNECTIONS: [100, 100, 20],
  SENDS: [10_000, 2_000, 200],
  CONNECTIONS: [10_000, 1_000, 100],
  SENDS_BIG: [50_000, 0, 0],
  /** parley-cluster runs on the local Redis Cluster (make cluster; PARLEY_CLUSTER_NODES to use another). */
  WRITE_TARGETS: ['parley,parley-2api,parley-cluster,rollback,peer-direct,peer-bullmq,peer-floor'],
  BURST_TARGETS: ['parley,parley-2api,rollback'],
  /** Rollback mode takes about 5 minutes for 50,000 from 10,000 connections here: BIG_TARGETS=parley,parley-2api,rollback. */
  BIG_TARGETS: ['parley,parley-2api'],
  WARMUP_SENDS: [500, 200, 50],
  SENDS_PER_CONVERSATION: [5],
  /** 'unique': every send a text no other send has (as visitors write); 'repeated': five texts over and over. */
  SEND_TEXTS: ['unique'],
  READ_TARGETS: ['parley,parley-cluster,rollback,peer-response-cache,peer-yoga-cache'],
  READ_CONNECTIONS: [100, 50, 10],
  READ_WARMUP_SECONDS: [5, 1, 1],
  READ_SECONDS: [15, 3, 2],
  ZIPF_S: [1.1],
  /**
   * The reads again over this many bots (the seeded ones and copies of the first, seeded in SQL):
   * a working set larger than the apis' caches. Last, so the other phases see the small database.
   */
  MANY_BOTS: [5000, 1000, 0],
  /** The reads again from this many connections (over BOTS bots): no request may take over 10 s. */
  WIDE_READ_CONNECTIONS: [1000, 1000, 100],
  WIDE_READ_TARGETS: ['parley', 'parley', ''],
  MANY_BOTS_READ_TARGETS: ['parley,peer-response-cache,peer-yoga-cache'],
  /** Renames per second during the measured reads, each read back this many times (0: no check). */
  STALE_UPDATES_PER_TICK: [3, 3, 0],
  STALE_READS_PER_UPDATE: [5],
  MIXED_TARGETS: ['parley,rollback'],
  MIXED_RATE: [300, 200, 50],
  MIXED_WARMUP_SECONDS: [5, 1, 1],
  MIXED_SECONDS: [40, 6, 3],
  OVERLOAD_TARGETS: ['parley,rollback', 'parley'],
  /** The api's memory: reads to fill its caches, then this many idle keep-alive connections. */
  MEMORY_TARGETS: ['parley'],
  MEMORY_READ_SECONDS: [10, 3, 1],
  IDLE_CONNECTIONS: [10_000, 2_000, 200],
  /**
   * How long the connections then stay idle before the settled RSS is read: V8 gives back the
   * heap that accepting them grew only once the process has been idle for a while (its memory
   * reducer, some 10 to 20 s after the last burst of allocation).
   */
  IDLE_SETTLE_SECONDS: [30, 20, 2],
  OVERLOAD_FACTOR: [3],
  OVERLOAD_SECONDS: [60, 4, 3],
  OVERLOAD_CONNECTIONS: [10_000, 2_000, 200],
  /** How long after the overload the probes may take to see the api answer well again. */
  RECOVERY_SECONDS: [30, 15, 10],
  DRAIN_TIMEOUT_SECONDS: [300, 120, 60],
  REQUEST_TIMEOUT_SECONDS: [120, 60, 30],
  BASE_PORT: [4641, 4641, 4661],
};

/** The run's mode from the environment: `full`, `quick` (QUICK=1) or `smoke` (SMOKE=1). */
export const runMode = (env = process.env) => (env.SMOKE === '1' ? 'smoke' : env.QUICK === '1' ? 'quick' : 'full');

/**
 * The phases' settings for `mode`: `defaults` (a scenario's, by variable: a value, or one per
 * mode as in SETTINGS) over SETTINGS, the environment over both. Lists (`*_TARGETS`) are
 * comma-separated; an empty one skips its phase.
 */
export function phaseConfig(mode, defaults = {}, env = process.env) {
  const column = { full: 0, quick: 1, smoke: 2 }[mode];
  const cfg = { mode };
  for (const [name, values] of Object.entries({ ...SETTINGS, ...defaults })) {
    const choices = [values].flat();
    const fallback = choices[Math.min(column, choices.length - 1)];
    const raw = env[name] ?? fallback;
    const key = name.toLowerCase().replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    cfg[key] = name.endsWith('_TARGETS')
      ? String(raw).split(',').filter(Boolean)
      : typeof fallback === 'string'
        ? String(raw)
        : Number(raw);
  }
  if (cfg.staleUpdatesPerTick > 0)
    cfg.staleCheck = { updatesPerTick: cfg.staleUpdatesPerTick, readsPerUpdate: cfg.staleReadsPerUpdate };
  return cfg;
}

/** The phases over the harness `h`, sized by `cfg` (see scenarios/bench.mjs for every setting). */
export function createPhases(h, cfg) {
  const { log } = h;
  const targets = createTargets(h, { basePort: cfg.basePort });

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

  /** One server's counters (INFO): commands processed, keyspace hits and misses, peak memory. */
  async function serverStats(server) {
    const info = await server.info();
    const field = (name) => Number(info.match(new RegExp(`^${name}:(\\d+(?:\\.\\d+)?)`, 'm'))?.[1] ?? NaN);
    return {
      commands: field('total_commands_processed'),
      // The server's own CPU (main thread and children), seconds: what a send or a read costs Redis.
      cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'),
      hits: field('keyspace_hits'),
      misses: field('keyspace_misses'),
      peakMemory: field('used_memory_peak'),
    };
  }

  /**
   * Redis' own counters: the machine's Redis, or for a cluster target every master's, summed,
   * with each master's commands by address (how evenly the load spreads).
   */
  async function redisStats(clustered) {
    if (!clustered) return serverStats(h.redis);
    const masters = (await h.clusterRedis()).nodes('master');
    const each = await Promise.all(masters.map(serverStats));
    return {
      commands: each.reduce((n, x) => n + x.commands, 0),
      cpuSeconds: each.reduce((n, x) => n + x.cpuSeconds, 0),
      hits: each.reduce((n, x) => n + x.hits, 0),
      misses: each.reduce((n, x) => n + x.misses, 0),
      peakMemory: Math.max(...each.map((x) => x.peakMemory)),
      byNode: Object.fromEntries(masters.map((m, i) => [`${m.options.host}:${m.options.port}`, each[i].commands])),
    };
  }

  /** User + system CPU so far of a target's processes, ms, summed by role (`api`, `worker`). */
  function processCpu(target) {
    const byRole = {};
    for (const child of target.processes) {
      const role = target.apis?.includes(child) ? 'api' : 'worker';
      try {
        byRole[role] = (byRole[role] ?? 0) + processCpuMillis(child.pid);
      } catch {
        // exited: its CPU is no longer readable
      }
    }
    return byRole;
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
  async function measured(name, dist, owner, work, options = {}) {
    // This machine's PostgreSQL runs with autovacuum off: without a VACUUM the dead versions of
    // the bots' rows (every send updates its bot's counter) slow whichever target runs later.
    await vacuum();
    await h.waitNoBackends();
    const pg0 = await h.pgStats();
    const clustered = name === 'parley-cluster';
    const redis0 = await redisStats(clustered);
    const target = await targets.start(name, dist, owner, options);
    const db = await h.probe();
    try {
      const rows0 = await messageCount(db);
      const processes0 = processCpu(target);
      const cpu0 = h.cpuSample();
      const overflows0 = listenOverflows();
      // On a cluster: which master the buffer's commands go to, sampled a little into the run.
      const bufferSample =
        clustered &&
        sampleBufferCommands(
          (await h.clusterRedis()).nodes('master').map(({ options }) => options),
          { delayMillis: 3000, millis: 1000 },
        ).catch((error) => ({ error: String(error) }));
      const result = await work(target, db, rows0);
      const bufferCommandsByNode = bufferSample ? await bufferSample : undefined;
      const overflows = overflows0 === null ? null : listenOverflows() - overflows0;
      // Other node processes on these cores (someone's test run) skew a run: the report says so.
      const cpu = h.cpuBetween(cpu0, h.cpuSample());
      const processes1 = processCpu(target);
      // The target's own CPU over the run, by role: what one request costs an api, one message a worker.
      const processCpuMillis = Object.fromEntries(
        Object.keys(processes1).map((role) => [role, processes1[role] - (processes0[role] ?? 0)]),
      );
      const rows1 = await messageCount(db);
      // Redis' counters once the processes have exited, before the run's keys are deleted.
      let redis1;
      const logs = await targets.stop(target, { exited: async () => (redis1 = await redisStats(clustered)) });
      await db.end();
      await h.waitNoBackends();
      const pg1 = await h.pgStats();
      const stored = rows1 - rows0;
      const transactions = pg1.commits + pg1.rollbacks - pg0.commits - pg0.rollbacks - db.own();
      return {
        id: target.id,
        target: name,
        label: target.label,
        ...result,
        stored,
        cpu,
        processCpuMillis,
        listenOverflows: overflows,
        pg: {
          transactions,
          rollbacks: pg1.rollbacks - pg0.rollbacks,
          rowsWritten: pg1.rowsWritten - pg0.rowsWritten,
          rowsFetched: pg1.rowsFetched - pg0.rowsFetched,
          ownProbeTransactions: db.own(),
        },
        // The whole servers' counters: the machine's Redis (or the cluster) serves only this run meanwhile.
        redis: {
          commands: redis1.commands - redis0.commands,
          cpuMillis: (redis1.cpuSeconds - redis0.cpuSeconds) * 1000,
          keyspaceHits: redis1.hits - redis0.hits,
          keyspaceMisses: redis1.misses - redis0.misses,
          peakMemoryBytes: redis1.peakMemory,
          ...(clustered && {
            commandsByNode: Object.fromEntries(
              Object.entries(redis1.byNode).map(([node, n]) => [node, n - (redis0.byNode[node] ?? 0)]),
            ),
            bufferCommandsByNode,
          }),
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
  async function writeRun(name, dist, owner, total, connections, { kind = 'writes', ...options } = {}) {
    log(`writes: ${name}, ${total} sends from ${connections} connections`);
    const r = await measured(
      name,
      dist,
      owner,
      async (target, db, rows0) => {
        const load = {
          origins: target.origins,
          token: target.token,
          client: sender(owner.botIds, cfg.sendsPerConversation, cfg.sendTexts),
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
      },
      options,
    );
    r.rowsOk = r.target === 'peer-floor' ? null : r.stored === r.expectedRows;
    r.transactionsPerMessage = r.stored ? r.pg.transactions / r.stored : null;
    r.rowsWrittenPerMessage = r.stored ? r.pg.rowsWritten / r.stored : null;
    r.transactionsPerSend = r.pg.transactions / (r.acked + r.warmup.acked);
    r.redisCommandsPerSend = r.redis.commands / (r.acked + r.warmup.acked);
    r.redisCpuMillisPerSend = r.redis.cpuMillis / (r.acked + r.warmup.acked);
    r.apiCpuMillisPerSend = r.processCpuMillis.api ? r.processCpuMillis.api / (r.requests + r.warmup.sends) : null;
    r.workerCpuMillisPerMessage = r.processCpuMillis.worker && r.stored ? r.processCpuMillis.worker / r.stored : null;
    log(
      `  ${r.id}: ${Math.round(r.ackedPerSecond)} sends/s, p95 ${Math.round(r.p95)} ms, ${r.gaveUp} errors, ${r.shed.withRetryAfter} retried 503/429, stored ${r.stored}/${r.expectedRows}, ${r.transactionsPerSend.toFixed(3)} xacts/send, ${r.redisCommandsPerSend.toFixed(1)} Redis commands/send`,
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
  async function readRun(name, dist, owner, connections = cfg.readConnections) {
    log(`reads: ${name}, ${owner.botIds.length} bots, ${connections} connections, ${cfg.readSeconds} s`);
    const r = await measured(name, dist, owner, async (target) => {
      const next = reader(owner.botIds, cfg.zipfS);
      // The measured reads go on the warm-up's connections. Opened afresh, all at once, the
      // first few hundred saturate the api and Node accepts one connection per event-loop turn:
      // the rest wait in the kernel's accept queue until the run ends and the load stops.
      const pools = openPools(target.origins, connections);
      const load = {
        origins: target.origins,
        token: target.token,
        connections,
        timeoutMillis: cfg.requestTimeoutSeconds * 1000,
        client: () => ({ next, answered: () => undefined }),
        pools,
      };
      const warm = await closedLoop({ ...load, seconds: cfg.readWarmupSeconds });
      const cache0 = target.redis ? await cacheCounts(target.origins[0]) : null;
      const check =
        cfg.staleCheck &&
        staleReadCheck({
          origin: target.origins[0],
          token: target.token,
          botIds: owner.botIds,
          label: target.id,
          ...cfg.staleCheck,
        });
      const run = await closedLoop({ ...load, seconds: cfg.readSeconds });
      const stale = check ? await check.stop() : null;
      const cache1 = target.redis ? await cacheCounts(target.origins[0]) : null;
      await closePools(pools);
      const { timeline: _timeline, samples, ...summary } = run;
      return {
        kind: 'reads',
        bots: owner.botIds.length,
        connections,
        warmupRequests: warm.requests,
        // The warm-up opens the connections, all at once: its slowest request waited for its accept.
        warmupSlowest: warm.max,
        ...summary,
        errorSamples: samples,
        cache: cacheDelta(cache0, cache1),
        stale,
      };
    });
    const requests = r.requests + r.warmupRequests;
    r.transactionsPerRead = r.pg.transactions / requests;
    r.rowsFetchedPerRead = r.pg.rowsFetched / requests;
    r.redisCommandsPerRead = r.redis.commands / requests;
    r.redisCpuMillisPerRead = r.redis.cpuMillis / requests;
    r.apiCpuMillisPerRead = r.processCpuMillis.api ? r.processCpuMillis.api / requests : null;
    log(
      `  ${r.id}: ${Math.round(r.rps)} reads/s, p95 ${Math.round(r.p95)} ms, ${r.errors} errors, hit rate ${r.cache?.hitRate?.toFixed(3) ?? '–'}`,
    );
    return r;
  }

  /** The api's V8 heap (used and reserved) and memory outside it, bytes, from its /metrics. */
  async function heapOf(origin) {
    const text = await fetch(`${origin}/metrics`).then((r) => r.text());
    const value = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    return {
      used: value('nodejs_heap_size_used_bytes'),
      total: value('nodejs_heap_size_total_bytes'),
      external: value('nodejs_external_memory_bytes'),
    };
  }

  /**
   * The api's resident memory: started, after owner reads have filled its in-process caches
   * (response cache, L1, chunks, sessions), and then holding IDLE_CONNECTIONS idle keep-alive
   * connections.
   */
  async function memoryRun(name, dist, owner) {
    log(`memory: ${name}, reads for ${cfg.memoryReadSeconds} s, then ${cfg.idleConnections} idle connections`);
    return measured(name, dist, owner, async (target) => {
      const pid = target.apis[0].pid;
      const startedBytes = residentBytes(pid);
      const next = reader(owner.botIds, cfg.zipfS);
      await closedLoop({
        origins: target.origins,
        token: target.token,
        connections: cfg.readConnections,
        seconds: cfg.memoryReadSeconds,
        timeoutMillis: cfg.requestTimeoutSeconds * 1000,
        client: () => ({ next, answered: () => undefined }),
      });
      const afterReadsBytes = residentBytes(pid);
      const heapAfterReads = await heapOf(target.origins[0]);
      const idle = await idleConnections(target.origins[0], cfg.idleConnections);
      try {
        // Right after accepting them (a second for what is in hand), and once settled: each second
        // of the settling is kept, so the report shows when the heap was given back.
        await sleep(1000);
        const idleBytes = residentBytes(pid);
        const heapIdle = await heapOf(target.origins[0]);
        const settling = [];
        for (let second = 1; second <= cfg.idleSettleSeconds; second++) {
          await sleep(1000);
          settling.push(residentBytes(pid));
        }
        const settledBytes = settling.at(-1) ?? idleBytes;
        const heapSettled = await heapOf(target.origins[0]);
        const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
        log(
          `  ${target.id}: RSS ${mb(startedBytes)} MB started, ${mb(afterReadsBytes)} MB after reads, with ${idle.open} idle connections (${idle.failed} failed) ${mb(idleBytes)} MB at once, ${mb(settledBytes)} MB after ${cfg.idleSettleSeconds} s`,
        );
        return {
          kind: 'memory',
          startedBytes,
          afterReadsBytes,
          idleBytes,
          settledBytes,
          settling,
          idleOpen: idle.open,
          idleFailed: idle.failed,
          heapAfterReads,
          heapIdle,
          heapSettled,
        };
      } finally {
        idle.close();
      }
    });
  }

  /** Open-model arrivals at MIXED_RATE: 70 % owner reads, 30 % sends. */
  async function mixedRun(name, dist, owner) {
    log(`mixed: ${name}, ${cfg.mixedRate}/s for ${cfg.mixedSeconds} s`);
    return measured(name, dist, owner, async (target) => {
      const read = reader(owner.botIds, cfg.zipfS);
      const writers = Array.from({ length: 200 }, (_, i) =>
        sender(owner.botIds, cfg.sendsPerConversation, cfg.sendTexts)(i),
      );
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
      const writers = Array.from({ length: 1000 }, (_, i) =>
        sender(owner.botIds, cfg.sendsPerConversation, cfg.sendTexts)(i),
      );
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
      const probeSender = sender(owner.botIds, cfg.sendsPerConversation, cfg.sendTexts)(0);
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

  return { measured, writeRun, readRun, mixedRun, overloadRun, memoryRun };
}

/**
 * Seeds one owner with `cfg.bots` bots, then runs every phase that has targets (`writeTargets`:
 * throughput; `burstTargets`: writes from `connections`; `bigTargets` when `sendsBig`;
 * `readTargets`, `mixedTargets`, `overloadTargets`; `manyBotsReadTargets` over `manyBots` bots) and writes report.json, report.md and the
 * charts to `reportDir`. A run that fails (a target that would not start) is reported, not fatal;
 * returns what fails the scenario: a correctness check not met, a run that did not happen.
 */
export async function runPhases(h, cfg, { title, command, reportDir, started = Date.now() }) {
  const { log } = h;
  const phases = createPhases(h, cfg);
  await h.redis.connect();
  const commit = head();
  const dist = h.build();
  const owner = await seedOwner(h, dist, { bots: cfg.bots, port: cfg.basePort + 8, name: h.name });
  const results = {
    throughput: [],
    writes: [],
    writesBig: [],
    reads: [],
    readsManyBots: [],
    readsWide: [],
    mixed: [],
    overload: [],
    memory: [],
  };
  const attempt = async (bucket, name, fn) => {
    try {
      bucket.push(await fn());
    } catch (error) {
      log(`${name} failed:`, error);
      bucket.push({ target: name, label: LABELS[name], failed: String(error).slice(0, 500) });
      for (const child of [...h.children]) await stop(child).catch(() => undefined);
    }
  };
  for (const name of cfg.writeTargets)
    await attempt(results.throughput, name, () =>
      phases.writeRun(name, dist, owner, cfg.throughputSends, cfg.throughputConnections, { kind: 'throughput' }),
    );
  for (const name of cfg.burstTargets)
    await attempt(results.writes, name, () => phases.writeRun(name, dist, owner, cfg.sends, cfg.connections));
  if (cfg.sendsBig > 0)
    for (const name of cfg.bigTargets)
      await attempt(results.writesBig, name, () => phases.writeRun(name, dist, owner, cfg.sendsBig, cfg.connections));
  for (const name of cfg.readTargets) await attempt(results.reads, name, () => phases.readRun(name, dist, owner));
  for (const name of cfg.wideReadTargets)
    await attempt(results.readsWide, name, () => phases.readRun(name, dist, owner, cfg.wideReadConnections));
  for (const name of cfg.mixedTargets) await attempt(results.mixed, name, () => phases.mixedRun(name, dist, owner));
  for (const name of cfg.memoryTargets) await attempt(results.memory, name, () => phases.memoryRun(name, dist, owner));
  for (const name of cfg.overloadTargets) {
    const capacity = results.throughput.find((r) => r.target === name)?.ackedPerSecond;
    if (capacity) await attempt(results.overload, name, () => phases.overloadRun(name, dist, owner, capacity));
  }
  if (cfg.manyBots > owner.botIds.length && cfg.manyBotsReadTargets.length > 0) {
    const many = await cloneBots(h, owner, cfg.manyBots);
    for (const name of cfg.manyBotsReadTargets)
      await attempt(results.readsManyBots, name, () => phases.readRun(name, dist, many));
  }
  const report = {
    title,
    date: new Date().toISOString(),
    mode: cfg.mode,
    command,
    environmentOverrides: Object.fromEntries(
      Object.keys(cfg)
        .map((k) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase())
        .filter((k) => process.env[k] !== undefined)
        .map((k) => [k, process.env[k]]),
    ),
    commit,
    machine: machine(h),
    config: cfg,
    durationSeconds: (Date.now() - started) / 1000,
    results,
  };
  report.checks = checks(report);
  mkdirSync(reportDir, { recursive: true });
  report.charts = renderCharts(report, reportDir);
  writeFileSync(join(reportDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(reportDir, 'report.md'), renderReport(report));
  if (reportDir !== h.outDir) cpSync(join(reportDir, 'report.md'), join(h.outDir, 'report.md'));
  console.log(readFileSync(join(reportDir, 'report.md'), 'utf8'));
  log(`report: ${relative(process.cwd(), join(reportDir, 'report.md'))}; logs: ${h.outDir}`);
  return [
    ...report.checks.filter((c) => c.kind === 'correctness' && c.met === false).map((c) => c.name),
    ...Object.values(results)
      .flat()
      .filter((r) => r.failed)
      .map((r) => `${r.target} did not run: ${r.failed}`),
  ];
}
