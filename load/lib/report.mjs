// The benchmark's verdicts (`checks`) and its report.md (`renderReport`), from report.json's data.
// Two kinds of check: `correctness` (nothing lost or doubled, no 5xx but 503, every 429/503
// with Retry-After) fails the run; `target` (the plan's figures and the aims against the peers)
// is reported as met or not, on whatever machine the run had.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export const fmt = (x, d = 0) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : x.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d });
/** A run's p50, p95 and p99 in ms: the latency columns every table shares. */
const latencyCells = (r) => [fmt(r.p50, 1), fmt(r.p95, 1), fmt(r.p99, 1)];
const pct = (x, d = 1) => (x === null || x === undefined ? '–' : `${fmt(100 * x, d)} %`);
const ratio = (a, b) => (a && b ? a / b : null);
const ok = (runs) => runs.filter((r) => !r.failed);
const find = (runs, target) => runs.find((r) => r.target === target && !r.failed);
const codes = (c) =>
  Object.entries(c)
    .map(([code, n]) => `${code}: ${fmt(n)}`)
    .join(', ');

export function checks(report) {
  const { throughput, writes, writesBig, reads, mixed, overload } = report.results;
  const out = [];
  const add = (kind, name, target, measured, met) => out.push({ kind, name, target, measured, met });

  for (const r of [...writes, ...writesBig].filter((x) => ['parley', 'parley-2api'].includes(x.target))) {
    if (r.failed) {
      add('target', `${r.sends} concurrent sends`, 'completes', r.failed, false);
      continue;
    }
    add(
      'target',
      `${fmt(r.sends)} sendMessage from ${fmt(r.connections)} connections, ${r.label}`,
      '0 errors',
      `${fmt(r.acked)} acknowledged, ${fmt(r.gaveUp)} errors (${fmt(r.shed.withRetryAfter)} answers were 503 + Retry-After and retried)`,
      r.gaveUp === 0,
    );
  }
  const cache = find(reads, 'parley')?.cache;
  if (cache) add('target', 'Read cache hit rate (L1 or Redis)', '> 70 %', pct(cache.hitRate), cache.hitRate > 0.7);
  const m = find(mixed, 'parley');
  if (m)
    add(
      'target',
      `API p95, mixed scenario at ${m.rate}/s (open model)`,
      '< 200 ms (aim < 50 ms)',
      `${fmt(m.p95, 1)} ms (p50 ${fmt(m.p50, 1)}, p99 ${fmt(m.p99, 1)})`,
      m.p95 < 200,
    );
  const writePair = [throughput, writes, writesBig]
    .map((runs) => [find(runs, 'parley'), find(runs, 'rollback')])
    .find(([a, b]) => a && b);
  if (writePair) {
    const [p, rb] = writePair;
    const cut = 1 - p.transactionsPerMessage / rb.transactionsPerMessage;
    add(
      'target',
      `Database write load (transactions per stored message, ${fmt(p.sends)} sends)`,
      '> 80 % less than rollback',
      `${pct(cut)} less: ${fmt(p.transactionsPerMessage, 3)} vs ${fmt(rb.transactionsPerMessage, 3)}; rows written ${fmt(p.rowsWrittenPerMessage, 2)} vs ${fmt(rb.rowsWrittenPerMessage, 2)}`,
      cut > 0.8,
    );
  }
  const peerRatio = (name, runs, mine, peer, key, aim) => {
    const a = find(runs, mine);
    const b = find(runs, peer);
    if (!a || !b) return;
    const x = ratio(a[key], b[key]);
    add('target', name, `≥ ${aim}×`, `${fmt(x, 2)}× (${fmt(a[key])} vs ${fmt(b[key])} per second)`, x >= aim);
  };
  peerRatio('Sends vs the BullMQ write-behind peer', throughput, 'parley', 'peer-bullmq', 'ackedPerSecond', 2);
  // Against the faster of the two response-cache peers in the same run.
  const RESPONSE_CACHE_PEERS = ['peer-response-cache', 'peer-yoga-cache'];
  const readsVsPeers = (runs, bots, aim) => {
    const fastest = ok(runs)
      .filter((r) => RESPONSE_CACHE_PEERS.includes(r.target))
      .sort((a, b) => b.okPerSecond - a.okPerSecond)[0];
    if (fastest)
      peerRatio(`Reads over ${fmt(bots)} bots vs ${fastest.label}`, runs, 'parley', fastest.target, 'okPerSecond', aim);
  };
  for (const r of ok(report.results.readsWide ?? []))
    add(
      'target',
      `Reads on ${fmt(r.connections)} open connections: requests over 10 s, ${r.label}`,
      '0',
      `${fmt(r.over10s)} of ${fmt(r.requests)} (p99 ${fmt(r.p99)} ms, slowest ${fmt(r.max)} ms; ${fmt(r.okPerSecond)} reads/s; while the warm-up opened them, the slowest took ${fmt(r.warmupSlowest)} ms)`,
      r.over10s === 0,
    );
  readsVsPeers(reads, report.config.bots, 1.5);
  readsVsPeers(report.results.readsManyBots ?? [], report.config.manyBots, 1);
  const sends = find(throughput, 'parley');
  if (sends && !sends.failed) {
    add(
      'target',
      `PostgreSQL transactions per send, retrieval included (${fmt(sends.sends)} sends, start-up included)`,
      '≤ 0.02',
      fmt(sends.transactionsPerSend, 3),
      sends.transactionsPerSend <= 0.02,
    );
    add(
      'target',
      'Redis commands per send',
      '≤ 8',
      fmt(sends.redisCommandsPerSend, 1),
      sends.redisCommandsPerSend <= 8,
    );
  }
  peerRatio('Sends vs the no-I/O floor', throughput, 'parley', 'peer-floor', 'ackedPerSecond', 0.5);
  for (const r of ok(report.results.memory ?? [])) {
    add(
      'target',
      `api memory (RSS) with ${fmt(r.idleOpen)} idle connections, its caches filled, ${r.label}, once settled`,
      '≤ 250 MB',
      `${fmt(r.settledBytes / 2 ** 20)} MB after ${fmt(r.settling.length)} s idle (${fmt(r.idleBytes / 2 ** 20)} right after accepting them; ${fmt(r.startedBytes / 2 ** 20)} started, ${fmt(r.afterReadsBytes / 2 ** 20)} after reads)`,
      r.settledBytes <= 250 * 2 ** 20,
    );
  }
  for (const o of ok(overload)) {
    add(
      'target',
      `Recovery after ${o.seconds} s at ${fmt(o.rate)} sends/s, ${o.label}`,
      'within seconds (≤ 10 s)',
      o.recoveredAfterMillis === null ? 'not within the probe window' : `${fmt(o.recoveredAfterMillis / 1000, 1)} s`,
      o.recoveredAfterMillis !== null && o.recoveredAfterMillis <= 10_000,
    );
  }

  // On a cluster the write buffer's load should spread over the masters (BUFFER_SHARDS). All
  // commands are shown beside it: sessions and hot bots are single keys, so they land where they hash.
  const spread = (counts) => {
    const byNode = Object.entries(counts);
    const total = byNode.reduce((n, [, count]) => n + count, 0);
    const [busiest, most] = byNode.sort((a, b) => b[1] - a[1])[0] ?? ['–', 0];
    const share = total ? most / total : null;
    return {
      share,
      text: `${pct(share)} on ${busiest} (${byNode.map(([node, count]) => `${node}: ${fmt(count)}`).join(', ')})`,
    };
  };
  for (const r of [...throughput, ...writes].filter((x) => !x.failed && x.redis?.bufferCommandsByNode)) {
    const sample = r.redis.bufferCommandsByNode;
    const buffer = sample.error ? { share: null, text: `not sampled: ${sample.error}` } : spread(sample);
    add(
      'target',
      `The buffer's Redis commands on the busiest master (MONITOR, 1 s), ${r.kind}, ${r.label}`,
      '≤ 45 %',
      `${buffer.text}; all commands: ${spread(r.redis.commandsByNode).text}`,
      buffer.share !== null && buffer.share <= 0.45,
    );
  }

  // Correctness: fails the run.
  for (const r of [...throughput, ...writes, ...writesBig, ...overload].filter((x) => !x.failed && x.rowsOk !== null)) {
    add(
      'correctness',
      `Rows after the drain, ${r.kind} (${fmt(r.sends ?? r.arrivals)} ${r.kind === 'overload' ? 'arrivals' : 'sends'}), ${r.label}`,
      '= 2 × acknowledged',
      `${fmt(r.stored)} of ${fmt(r.expectedRows)}${r.drainTimedOut ? ' (drain timed out)' : ''}`,
      r.rowsOk,
    );
  }
  for (const o of ok(overload)) {
    // HTTP answers only: a connection the kernel reset (its accept queue full) is no answer of
    // the api's, and is reported apart, below.
    const unexpected = Object.entries(o.httpCodes).filter(([c]) => !['200', '429', '503', 'none'].includes(c));
    add(
      'correctness',
      `Overload answers, ${o.label}`,
      'only 2xx, 429, 503 with Retry-After; no other 5xx',
      `${codes(o.httpCodes)}; Retry-After on ${fmt(o.shed.withRetryAfter)} of ${fmt(o.shed.withRetryAfter + o.shed.withoutRetryAfter)}`,
      unexpected.length === 0 && o.shed.withoutRetryAfter === 0,
    );
  }
  for (const r of [...writes, ...writesBig, ...overload].filter((x) => !x.failed)) {
    const clientErrors = Object.entries(r.outcomes)
      .filter(([k]) => k.startsWith('client '))
      .reduce((n, [, v]) => n + v, 0);
    add(
      'target',
      `Connections refused or reset, ${r.kind} (${fmt(r.sends ?? r.arrivals)} ${r.kind === 'overload' ? 'arrivals' : 'sends'}), ${r.label}`,
      '0',
      `${fmt(clientErrors)} (the kernel's accept queues overflowed ${fmt(r.listenOverflows)} times meanwhile)`,
      clientErrors === 0,
    );
  }
  for (const r of ok([...reads, ...(report.results.readsManyBots ?? [])]).filter(
    (x) => x.stale && !x.target.startsWith('peer'),
  )) {
    add(
      'correctness',
      `Stale reads after an acknowledged update, ${fmt(r.bots)} bots, ${r.label}`,
      '0',
      `${fmt(r.stale.staleReads)} of ${fmt(r.stale.reads)} reads (${fmt(r.stale.updates)} updates, ${fmt(r.stale.updateErrors)} refused)`,
      r.stale.staleReads === 0 && r.stale.updates > 0,
    );
  }
  const shedWithout = [...throughput, ...writes, ...writesBig, ...mixed, ...reads]
    .filter((r) => !r.failed && (r.target.startsWith('parley') || r.target === 'rollback'))
    .reduce((n, r) => n + (r.shed?.withoutRetryAfter ?? 0), 0);
  add(
    'correctness',
    'Every 429/503 of Parley carries Retry-After (all phases)',
    '0 without',
    fmt(shedWithout),
    shedWithout === 0,
  );
  return out;
}

const table = (head, rows) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
/** A table of runs, one row each; a failed run is its label and why, the rest of its row empty. */
const runTable = (head, runs, cells) =>
  table(
    head,
    runs.map((r) =>
      r.failed ? [r.label ?? '?', `failed: ${r.failed.slice(0, 100)}`, ...head.slice(2).map(() => '')] : cells(r),
    ),
  );
const image = (report, key, alt) => (report.charts[key] ? `\n![${alt}](${report.charts[key]})\n` : '');

function writesTable(runs) {
  return runTable(
    [
      'target',
      'sends/s',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'errors',
      'HTTP codes',
      'rows = 2 × acked',
      'drain ms (peak depth)',
      'PG xacts / send',
      'PG xacts / message',
      'PG rows written / message',
      'Redis commands / send',
      'api CPU ms / send',
      'Redis CPU ms / send',
    ],
    runs,
    (r) => [
      r.label,
      fmt(r.ackedPerSecond),
      ...latencyCells(r),
      fmt(r.gaveUp),
      codes(r.httpCodes),
      r.rowsOk === null
        ? '– (stores nothing)'
        : `${r.rowsOk ? 'yes' : '**NO**'}: ${fmt(r.stored)} / ${fmt(r.expectedRows)}`,
      r.target === 'peer-floor'
        ? '–'
        : `${fmt(r.drainMillis)}${r.peakBufferDepth !== null ? ` (${fmt(r.peakBufferDepth)})` : ''}`,
      fmt(r.transactionsPerSend, 3),
      fmt(r.transactionsPerMessage, 3),
      fmt(r.rowsWrittenPerMessage, 2),
      fmt(r.redisCommandsPerSend, 1),
      fmt(r.apiCpuMillisPerSend, 2),
      fmt(r.redisCpuMillisPerSend, 3),
    ],
  );
}

export function renderReport(report) {
  const { throughput, writes, writesBig, reads, mixed, overload } = report.results;
  const m = report.machine;
  const cfg = report.config;
  const lines = [];
  const p = (...x) => lines.push(...x, '');
  p(
    `# ${report.title ?? 'Parley benchmark'}, ${report.date.slice(0, 10)}${report.mode === 'full' ? '' : ` (${report.mode})`}`,
  );
  p(
    `Command: \`${report.command}\`${
      Object.keys(report.environmentOverrides).length
        ? ` with ${Object.entries(report.environmentOverrides)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
    }; commit \`${report.commit}\`; ${fmt(report.durationSeconds / 60, 1)} min in all.`,
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}; Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}. PostgreSQL ${Object.entries(
      m.postgresSettings ?? {},
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(
        ', ',
      )}; Redis ${m.redisPersistence} (the machine's Redis; \`make chaos\` runs its own with AOF). Everything (the apis, workers, peers, the load generator, PostgreSQL and Redis) shares these cores, so compare the ratios of one run, not absolute figures across machines.`,
    `Libraries: Parley ${Object.entries(m.libraries.parley)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; peers ${Object.entries(m.libraries.peers)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; charts by echarts ${m.libraries.charts.echarts}.`,
  );

  const verdicts = (kind) =>
    table(
      ['check', 'target', 'measured', 'met'],
      report.checks.filter((c) => c.kind === kind).map((c) => [c.name, c.target, c.measured, c.met ? 'yes' : '**no**']),
    );
  p("## The plan's metrics", verdicts('target'));
  p('## Correctness checks', 'Each of these failing fails the run (exit 1).', verdicts('correctness'));

  const writing = [throughput, writes, writesBig].some((runs) => runs.length > 0);
  p(
    '## Method',
    `- A fresh database (\`parley_<scenario>_<stamp>\`), migrated; one owner with ${cfg.bots === 1 ? 'one bot' : `${cfg.bots} bots`} of three TEXT sources each, ingested. Every target runs compiled (\`NODE_ENV=production\`, \`LOG_LEVEL=warn\`), is started afresh for each run with its own Redis key prefix (a cold cache), and rate limits are off (they are measured by \`make bench-limits\`). Peers: \`load/peers/\`, on the same database and schema.`,
    ...(writing
      ? [
          `- Writes: closed loop, each connection sends its next \`sendMessage\` when the last is answered; ${cfg.sendsPerConversation} sends per conversation, conversations spread over the bots, each send with a \`clientMessageId\`. A 503 or 429 with \`Retry-After\` is retried after that long plus up to 250 ms (as the widget does); "errors" are sends never acknowledged. ${fmt(cfg.warmupSends)} warm-up sends first. "Rows = 2 × acked": \`messages\` rows stored (the user's message and the bot's reply) after the drain against the acknowledged sends, warm-up included.`,
        ]
      : []),
    `- PostgreSQL cost: \`pg_stat_database\` of the benchmark database from before the target's processes start until all have exited (every backend publishes its counts on exit), less the benchmark's own probe queries: transactions (commits + rollbacks) and rows written (inserted + updated + deleted), per stored message; warm-up, start-up and a worker's idle polling included.`,
    ...(reads.length
      ? [
          `- Reads: ${cfg.readConnections} closed-loop connections, ${cfg.readWarmupSeconds} s warm-up then ${cfg.readSeconds} s measured; 60 % a bot with its owner and sources, 25 % its sources, 15 % \`search\`, bots drawn Zipf(${cfg.zipfS}). Hit rate: \`/health/cache\` over the measured window (lookups answered by L1 or Redis, of all). PostgreSQL transactions per read: process start to exit, ÷ every read sent. ${cfg.staleCheck ? `Stale reads: every second ${cfg.staleCheck.updatesPerTick} of the 10 hottest bots are renamed through the target's \`updateBot\`, and each is read back ${cfg.staleCheck.readsPerUpdate} times with the load's own bot query once the rename is acknowledged; a read showing another name is stale.` : ''}`,
        ]
      : []),
    ...(mixed.length
      ? [
          `- Mixed: open-model arrivals (Poisson) at ${cfg.mixedRate} requests/s for ${cfg.mixedSeconds} s after ${cfg.mixedWarmupSeconds} s of warm-up, 70 % the reads above, 30 % sends; a request's latency counts from when it was due, so queueing shows (no coordinated omission).`,
        ]
      : []),
    ...(overload.length
      ? [
          `- Overload: open-model sends at ${cfg.overloadFactor} × the target's sends/s measured in the write phase, for ${cfg.overloadSeconds} s, on up to ${fmt(cfg.overloadConnections)} connections; then one probe send every 100 ms: recovered when five in a row are answered within a second.`,
        ]
      : []),
  );

  if (throughput.length)
    p(
      `## Write throughput: ${fmt(cfg.throughputSends)} sends from ${fmt(cfg.throughputConnections)} closed-loop connections`,
      'Every write target with the same load: the sends per second the ratios against the peers are taken from.',
      writesTable(throughput),
      image(report, 'sends', 'sends per second by target'),
    );
  if (writes.length)
    p(
      `## Writes: ${fmt(cfg.sends)} sends from ${fmt(cfg.connections)} simultaneous connections`,
      `Each connection sends as soon as it is open: ${fmt(cfg.connections)} requests arrive at once. Beyond \`HTTP_MAX_IN_FLIGHT\` requests in progress an api answers 503 + \`Retry-After\`, and the client retries (counted under HTTP codes, not errors).`,
      writesTable(writes),
    );
  if (writesBig.length)
    p(`## Writes: ${fmt(cfg.sendsBig)} sends from ${fmt(cfg.connections)} connections`, writesTable(writesBig));
  if (report.charts.buffer)
    p(
      'The write buffer over the run (sampled every 250 ms from `/health/buffer`): intents waiting, intents being flushed, and intents stored per second.',
      image(report, 'buffer', 'write buffer depth and flush rate'),
    );

  const readsTable = (runs) =>
    runTable(
      [
        'target',
        'reads/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'slowest ms',
        'over 10 s',
        'errors',
        'hit rate',
        'PG xacts / read',
        'PG rows fetched / read',
        'Redis commands / read',
        'api CPU ms / read',
        'Redis CPU ms / read',
        ...(cfg.staleCheck ? ['stale reads'] : []),
      ],
      runs,
      (r) => [
        r.label,
        fmt(r.okPerSecond),
        ...latencyCells(r),
        fmt(r.max),
        fmt(r.over10s),
        fmt(r.errors),
        pct(r.cache?.hitRate),
        fmt(r.transactionsPerRead, 3),
        fmt(r.rowsFetchedPerRead, 1),
        fmt(r.redisCommandsPerRead, 2),
        fmt(r.apiCpuMillisPerRead, 2),
        fmt(r.redisCpuMillisPerRead, 3),
        ...(cfg.staleCheck ? [r.stale ? `${fmt(r.stale.staleReads)} of ${fmt(r.stale.reads)}` : '–'] : []),
      ],
    );
  if (reads.length)
    p(`## Reads, ${fmt(cfg.bots)} bots`, readsTable(reads), image(report, 'hit-rate', 'cache hit rate by family'));
  const readsWide = report.results.readsWide ?? [];
  if (readsWide.length)
    p(`## Reads, ${fmt(cfg.bots)} bots, from ${fmt(cfg.wideReadConnections)} connections`, readsTable(readsWide));
  const readsManyBots = report.results.readsManyBots ?? [];
  if (readsManyBots.length)
    p(
      `## Reads, ${fmt(cfg.manyBots)} bots`,
      `The same reads over ${fmt(cfg.manyBots)} bots (the ${fmt(cfg.bots)} seeded and copies of the first, made in SQL with their sources and chunks): a working set larger than what the caches held above. Run last.`,
      readsTable(readsManyBots),
    );

  if (mixed.length)
    p(
      `## Mixed scenario: ${fmt(cfg.mixedRate)} requests/s offered, 70 % reads, 30 % sends`,
      runTable(
        ['target', 'answered/s', 'p50 ms', 'p95 ms', 'p99 ms', 'reads p95', 'sends p95', 'errors', 'hit rate'],
        mixed,
        (r) => [
          r.label,
          fmt(r.rps),
          ...latencyCells(r),
          fmt(r.byKind.read?.p95, 1),
          fmt(r.byKind.write?.p95, 1),
          fmt(r.errors),
          pct(r.cache?.hitRate),
        ],
      ),
      ...ok(mixed).map((r) => image(report, `latency-mixed-${r.target}`, `latency per second, ${r.label}`)),
    );

  if (overload.length)
    p(
      `## Overload: ${cfg.overloadFactor} × capacity for ${cfg.overloadSeconds} s`,
      runTable(
        [
          'target',
          'offered/s',
          'answers by HTTP code',
          '503/429 with Retry-After',
          'other 5xx',
          'client errors',
          'p95 ms',
          'backlog after ms',
          'recovered after s',
          'rows = 2 × acked',
        ],
        overload,
        (r) => [
          r.label,
          fmt(r.rate),
          codes(r.httpCodes),
          `${fmt(r.shed.withRetryAfter)} / ${fmt(r.shed.withRetryAfter + r.shed.withoutRetryAfter)}`,
          fmt(r.otherServerErrors),
          fmt(r.httpCodes.none ?? 0),
          fmt(r.p95, 0),
          fmt(r.backlogMillis),
          r.recoveredAfterMillis === null ? '–' : fmt(r.recoveredAfterMillis / 1000, 1),
          `${r.rowsOk ? 'yes' : '**NO**'}: ${fmt(r.stored)} / ${fmt(r.expectedRows)}`,
        ],
      ),
      ...ok(overload).map((r) => image(report, `overload-${r.target}`, `overload answers per second, ${r.label}`)),
    );

  const memory = report.results.memory ?? [];
  if (memory.length)
    p(
      `## Memory: the api's RSS, after ${cfg.memoryReadSeconds} s of owner reads, then with ${fmt(cfg.idleConnections)} idle keep-alive connections`,
      'Read a second after the connections were opened ("at once"), and again after they stayed idle ' +
        `${fmt(cfg.idleSettleSeconds)} s ("settled"). Accepting them in a burst grows V8's heap with garbage; ` +
        'V8 gives that back only once the process has been idle for a while (its memory reducer). ' +
        'The settled figure is what an api holding that many idle clients needs; the one at once, its peak.',
      runTable(
        [
          'target',
          'started MB',
          'after reads MB',
          'with idle connections MB: at once → settled',
          'connections open (failed)',
          'KB per connection (at once)',
          'V8 heap used / reserved MB (after reads → at once → settled)',
        ],
        memory,
        (r) => [
          r.label,
          fmt(r.startedBytes / 2 ** 20),
          fmt(r.afterReadsBytes / 2 ** 20),
          `${fmt(r.idleBytes / 2 ** 20)} → ${fmt(r.settledBytes / 2 ** 20)} (after ${fmt(r.settling.length)} s)`,
          `${fmt(r.idleOpen)} (${fmt(r.idleFailed)})`,
          fmt((r.idleBytes - r.afterReadsBytes) / 1024 / Math.max(1, r.idleOpen), 1),
          [r.heapAfterReads, r.heapIdle, r.heapSettled]
            .map((h) => `${fmt(h.used / 2 ** 20)} / ${fmt(h.total / 2 ** 20)}`)
            .join(' → '),
        ],
      ),
    );

  const notes = [];
  /** Log lines by text, with the processes that wrote them: one start-up warning is one note. */
  const logLines = new Map();
  for (const r of [
    ...throughput,
    ...writes,
    ...writesBig,
    ...reads,
    ...readsWide,
    ...readsManyBots,
    ...mixed,
    ...overload,
  ].filter((x) => !x.failed)) {
    const samples = Object.entries(r.errorSamples ?? {});
    if (samples.length)
      notes.push(
        `- ${r.kind}, ${r.label}: ${samples.map(([k, v]) => `\`${k}\`: ${v.replace(/\s+/g, ' ').slice(0, 160)}`).join('; ')}`,
      );
    for (const [proc, s] of Object.entries(r.logs ?? {}))
      for (const [line, n] of Object.entries(s.lines)) {
        const seen = logLines.get(line) ?? logLines.set(line, { count: 0, processes: [] }).get(line);
        seen.count += n;
        seen.processes.push(proc);
      }
  }
  for (const r of [
    ...throughput,
    ...writes,
    ...writesBig,
    ...reads,
    ...readsWide,
    ...readsManyBots,
    ...mixed,
    ...overload,
  ].filter((x) => x.cpu?.foreignNodePercent > 5))
    notes.push(
      `- ${r.kind}, ${r.label}: other node processes used ${fmt(r.cpu.foreignNodePercent)} % of the machine (${r.cpu.foreignTop.map((t) => t.cmd.slice(0, 60)).join('; ')}); its figures are skewed.`,
    );
  for (const [line, { count, processes }] of logLines)
    // A peer's plain start-up line is not a warning.
    if (!/^\(not JSON\) (peer|worker) ready on /.test(line))
      notes.push(`- ${count} × in the logs of ${processes.join(', ')}: ${line.replace(/\|/g, '/')}`);
  p(
    '## Errors and warnings seen',
    notes.length ? notes.join('\n') : 'None: no error answers, no warnings in any process log.',
  );
  p('Raw figures, every run and every second: `report.json` in this folder.');
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The machine, the services' versions and settings, and the libraries a report's figures come from. */
export function machine(h) {
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
      peers: Object.fromEntries(
        [
          '@apollo/server',
          '@apollo/server-plugin-response-cache',
          'graphql-yoga',
          '@graphql-yoga/plugin-response-cache',
          '@envelop/response-cache-redis',
          'fastify',
          'bullmq',
          'pg',
          'ioredis',
        ].map((k) => [k, loadPkg[k]]),
      ),
      charts: { echarts: loadPkg.echarts },
    },
  };
}
