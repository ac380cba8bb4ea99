// The read benchmark's load generator and stale-read checker, one process per target run
// (forked by bench-read.mjs, which it tells over IPC when the measured window starts and ends).
//
// Load: CONCURRENCY closed-loop clients over one undici Pool (one keep-alive connection each),
// each sending its next request as soon as the previous answer is read. Bot ids are drawn
// from Zipf(ZIPF_S) over the bots (rank 1 the hottest). The mix: 60 % the bot query,
// 25 % a bot's source list, 15 % `search` with one of a few repeated queries.
// Latencies of every measured request are kept and sorted at the end (exact percentiles).
//
// Stale-read check: every second, update the names of UPDATES_PER_TICK hot bots through the
// target's own `updateBot`, and once each update is acknowledged, read each bot back
// READS_PER_UPDATE times with the benchmark's own bot query (the exact text and variables the
// load sends, so a whole-response cache answers it as it answers the load). A read is stale
// when it shows another name than the last acknowledged one.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

/** The load generators' HTTP client: one keep-alive connection per closed-loop client, no pipelining. */
export const keepAlivePool = (origin, connections) =>
  new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });

/**
 * One POST /graphql on `pool`; never throws: `{ statusCode, headers, text }`, or
 * `{ statusCode: 0, error }` when no answer came (refused, reset, timed out).
 */
export async function postGraphql(pool, headers, body, timeoutMillis) {
  try {
    const res = await pool.request({
      path: '/graphql',
      method: 'POST',
      headers,
      body,
      headersTimeout: timeoutMillis,
      bodyTimeout: timeoutMillis,
    });
    return { statusCode: res.statusCode, headers: res.headers, text: await res.body.text() };
  } catch (error) {
    return { statusCode: 0, error };
  }
}

/** The TEXT sources every seeded bot of the read benchmarks gets. */
export const TOPICS = [
  'Refunds are accepted within 30 days of purchase with a receipt. Our refund policy covers unopened items.',
  'We are open Monday to Friday 8am to 6pm and on Saturday from 9am to 1pm. Opening hours may change on holidays.',
  'Shipping abroad takes 5 to 10 business days. Gift cards are valid for two years. Warranty repair takes a week.',
];

/** Exact percentile p (0-100) of latencies sorted ascending; null when there are none. */
export const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;

/** Sorts `latencies` (ms) in place; requests, req/s over `seconds`, p50/p95/p99 and max. */
export function latencySummary(latencies, seconds) {
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? null,
    seconds,
  };
}

/**
 * Zipf(s) over ranks 0..n-1 (rank 0 the hottest): returns a function that draws a rank. Callers
 * map ranks to ids through a fixed order, so the hot ones are the same for every target.
 */
export function zipfPicker(n, s) {
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf = [];
  weights.reduce((acc, w, i) => ((cdf[i] = (acc + w) / total), acc + w), 0);
  return () => {
    const u = Math.random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export const BOT_QUERY =
  'query Bot($id: ID!) { bot(id: $id) { id name description owner { id email name } sources { id title status } } }';
export const SOURCES_QUERY = 'query BotSources($id: ID!) { bot(id: $id) { id sources { id title status } } }';
export const SEARCH_QUERY =
  'query Search($b: ID!, $q: String!) { search(botId: $b, query: $q, limit: 3) { sourceId score } }';
export const SEARCHES = [
  'refund policy',
  'opening hours on saturday',
  'shipping abroad',
  'gift cards',
  'warranty repair',
];
const UPDATE = 'mutation Rename($id: ID!, $name: String!) { updateBot(id: $id, input: { name: $name }) { id name } }';

// Forked by bench-read.mjs, it runs; imported (bench-write.mjs takes the helpers above), it does nothing.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();

async function main() {
  const cfg = JSON.parse(process.env.LOADGEN_CONFIG);
  const token = readFileSync(cfg.tokenFile, 'utf8').trim();
  const botIds = JSON.parse(readFileSync(cfg.botsFile, 'utf8'));
  const origin = cfg.origin;

  const zipfRank = zipfPicker(botIds.length, cfg.zipfS);

  const pool = keepAlivePool(origin, cfg.concurrency + 4);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };

  async function post(body) {
    const { statusCode, body: stream } = await pool.request({ path: '/graphql', method: 'POST', headers, body });
    const text = await stream.text();
    return { statusCode, text };
  }

  function nextBody() {
    const r = Math.random();
    const id = botIds[zipfRank()];
    if (r < 0.6) return JSON.stringify({ query: BOT_QUERY, variables: { id } });
    if (r < 0.85) return JSON.stringify({ query: SOURCES_QUERY, variables: { id } });
    const q = SEARCHES[Math.floor(Math.random() * SEARCHES.length)];
    return JSON.stringify({ query: SEARCH_QUERY, variables: { b: id, q } });
  }

  let phase = 'warmup';
  const latencies = [];
  let ok = 0;
  let errors = 0;
  const errorSamples = new Map();
  let measuredStart = 0;
  let measuredEnd = 0;

  async function client() {
    while (phase !== 'done') {
      const body = nextBody();
      const t0 = performance.now();
      let bad = false;
      try {
        const { statusCode, text } = await post(body);
        bad = statusCode !== 200 || text.includes('"errors"');
        if (bad && errorSamples.size < 5) errorSamples.set(text.slice(0, 200), statusCode);
      } catch (error) {
        bad = true;
        if (errorSamples.size < 5) errorSamples.set(String(error), 0);
      }
      const t1 = performance.now();
      if (phase === 'measure' && t0 >= measuredStart) {
        latencies.push(t1 - t0);
        if (bad) errors++;
        else ok++;
      }
    }
  }

  // Stale-read check.
  const stale = { updates: 0, updateErrors: 0, reads: 0, staleReads: 0, staleSample: null };
  let seq = 0;
  async function staleTick() {
    const tickNo = seq++;
    const picks = Array.from({ length: cfg.updatesPerTick }, (_, i) => botIds[(tickNo * cfg.updatesPerTick + i) % 10]);
    await Promise.all(
      picks.map(async (id, i) => {
        const name = `${cfg.label}-rename-${tickNo}-${i}`;
        const res = await post(JSON.stringify({ query: UPDATE, variables: { id, name } }));
        const answer = JSON.parse(res.text);
        if (answer.data?.updateBot?.name !== name) {
          stale.updateErrors++;
          return;
        }
        stale.updates++;
        for (let r = 0; r < cfg.readsPerUpdate; r++) {
          const read = JSON.parse((await post(JSON.stringify({ query: BOT_QUERY, variables: { id } }))).text);
          stale.reads++;
          const seen = read.data?.bot?.name;
          if (seen !== name) {
            stale.staleReads++;
            stale.staleSample ??= { expected: name, seen };
          }
        }
      }),
    );
  }

  async function staleLoop() {
    while (phase !== 'done') {
      const t = Date.now();
      if (phase === 'measure') await staleTick().catch(() => stale.updateErrors++);
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t))));
    }
  }

  const clients = Array.from({ length: cfg.concurrency }, client);
  const checker = staleLoop();
  await new Promise((r) => setTimeout(r, cfg.warmupSeconds * 1000));
  phase = 'measure';
  measuredStart = performance.now();
  process.send?.({ event: 'measure-start' });
  await new Promise((r) => setTimeout(r, cfg.durationSeconds * 1000));
  measuredEnd = performance.now();
  phase = 'done';
  process.send?.({ event: 'measure-end' });
  await Promise.all([...clients, checker]);
  await pool.close();

  const { requests, rps, p50, p95, p99, max, seconds } = latencySummary(
    latencies,
    (measuredEnd - measuredStart) / 1000,
  );
  process.send?.({
    event: 'result',
    result: { requests, ok, errors, errorSamples: [...errorSamples.keys()], rps, p50, p95, p99, max, seconds, stale },
  });
}
