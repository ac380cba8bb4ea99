// The load generator of every benchmark: closed-loop clients (a fixed number of connections, each
// sending its next request when the last one is answered: throughput and "N simultaneous
// connections") and open-model arrivals (Poisson arrivals at a fixed rate, each request sent when
// it is due whether or not earlier ones were answered: latency without coordinated omission).
// Every answer is classified (`ok`, a GraphQL error code, an HTTP status, a client error) and
// kept in one Recorder: exact percentiles overall and per second, status codes, and whether each
// 429/503 carried `Retry-After`.
import net from 'node:net';
import { Pool } from 'undici';
import { sleep } from './harness.mjs';
import { percentile } from './stats.mjs';

/** One keep-alive connection per closed-loop client, no pipelining. */
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

/** The answers of one measured run, overall and per second since `t0` (performance.now()). */
export class Recorder {
  constructor(t0 = performance.now()) {
    this.t0 = t0;
    this.latencies = [];
    this.outcomes = {};
    this.httpCodes = {};
    this.samples = {};
    /** 429/503 answers with and without a Retry-After header. */
    this.shed = { withRetryAfter: 0, withoutRetryAfter: 0 };
    /** By second since t0: latencies and HTTP codes. */
    this.seconds = [];
  }

  record({ start, end, statusCode, outcome, retryAfter, sample, kind }) {
    const latency = end - start;
    this.latencies.push(latency);
    bump(this.outcomes, outcome);
    bump(this.httpCodes, statusCode || 'none');
    if (outcome !== 'ok' && !(outcome in this.samples)) this.samples[outcome] = String(sample ?? '').slice(0, 300);
    if (statusCode === 429 || statusCode === 503) this.shed[retryAfter ? 'withRetryAfter' : 'withoutRetryAfter'] += 1;
    const s = Math.max(0, Math.floor((start - this.t0) / 1000));
    const bucket = (this.seconds[s] ??= { latencies: [], httpCodes: {}, kinds: {} });
    bucket.latencies.push(latency);
    bump(bucket.httpCodes, statusCode || 'none');
    if (kind) bump(bucket.kinds, kind);
  }

  /** Totals and exact percentiles over `seconds` of load; the per-second series for the charts. */
  summary(seconds) {
    const sorted = this.latencies.sort((a, b) => a - b);
    const ok = this.outcomes.ok ?? 0;
    return {
      requests: sorted.length,
      ok,
      errors: sorted.length - ok,
      rps: sorted.length / seconds,
      okPerSecond: ok / seconds,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? null,
      /** Requests answered (or given up on) after more than 10 s: the stragglers a client would see time out. */
      over10s: sorted.length - countAtMost(sorted, 10_000),
      seconds,
      outcomes: this.outcomes,
      httpCodes: this.httpCodes,
      shed: this.shed,
      samples: this.samples,
      timeline: Array.from(this.seconds, (b, second) => {
        if (!b) return { second, requests: 0 };
        const l = b.latencies.sort((x, y) => x - y);
        return {
          second,
          requests: l.length,
          p50: percentile(l, 50),
          p95: percentile(l, 95),
          p99: percentile(l, 99),
          httpCodes: b.httpCodes,
        };
      }),
    };
  }
}

/** How many of `sorted` (ascending) are at most `limit`: a binary search. */
function countAtMost(sorted, limit) {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid] <= limit) low = mid + 1;
    else high = mid;
  }
  return low;
}

const bump = (map, key, n = 1) => (map[key] = (map[key] ?? 0) + n);

/** What an answer means: `ok`, the first GraphQL error's code, `HTTP <code>` or a client error. */
export function classify(statusCode, text, field) {
  if (!statusCode) return { outcome: `client ${text?.code ?? text?.name ?? 'error'}` };
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return { outcome: `HTTP ${statusCode}` };
  }
  const code = body.errors?.[0]?.extensions?.code;
  if (code) return { outcome: code, body };
  if (statusCode !== 200) return { outcome: `HTTP ${statusCode}`, body };
  if (field && body.data?.[field] == null) return { outcome: 'null answer', body };
  return { outcome: 'ok', body };
}

/** One POST /graphql, as `classify` and `Recorder.record` take it (a client error in `text`). */
async function post(pool, headers, body, timeoutMillis) {
  const res = await postGraphql(pool, headers, body, timeoutMillis);
  return { statusCode: res.statusCode, retryAfter: res.headers?.['retry-after'], text: res.text ?? res.error };
}

/** `connections` keep-alive connections spread over `origins`: one Pool per origin. */
export const openPools = (origins, connections) =>
  origins.map(
    (origin) =>
      new Pool(origin, {
        // Connections split evenly across the origins (two api instances: half each).
        connections: Math.ceil(connections / origins.length),
        pipelining: 1,
        keepAliveTimeout: 60_000,
        // 10,000 sockets opening at once: the accept queue overflows and SYNs are retried.
        connectTimeout: 60_000,
      }),
  );

const headersFor = (token) => ({
  'content-type': 'application/json',
  ...(token ? { authorization: `Bearer ${token}` } : {}),
});

export const closePools = (ps) => Promise.all(ps.map((p) => p.close()));

/**
 * `connections` closed-loop clients, spread over `origins`, until `total` requests were sent
 * or `seconds` have passed. `client(i)` gives a client's requests: `{ next(), answered(outcome,
 * answer) }`, `next()` returning `{ body, field }` (`field`: the answer's field that must be set).
 * `pools` (openPools): connections already open (a warm-up's) to send on, left open; without
 * it the run opens its own, all at once as its clients start, and closes them at the end.
 * A 503 or 429 with Retry-After is retried by the same client after that long, as the widget
 * does (it never gives up on those; here up to `retries` times); each attempt is recorded.
 */
export async function closedLoop({
  origins,
  token,
  connections,
  total = Infinity,
  seconds: limitSeconds = Infinity,
  client,
  timeoutMillis,
  retries = 100,
  onTick,
  pools,
}) {
  const ps = pools ?? openPools(origins, connections);
  const headers = headersFor(token);
  const recorder = new Recorder();
  let issued = 0;
  let done = 0;
  let acked = 0;
  let gaveUp = 0;
  let lastAck = 0;
  let peakSockets = 0;
  async function run(i) {
    const pool = ps[i % ps.length];
    const c = client(i);
    while (issued < total && performance.now() < deadline) {
      issued++;
      const { body, field } = c.next();
      for (let attempt = 0; ; attempt++) {
        const start = performance.now();
        const res = await post(pool, headers, body, timeoutMillis);
        const end = performance.now();
        const { outcome, body: answer } = classify(res.statusCode, res.text, field);
        recorder.record({ start, end, ...res, outcome, sample: res.text });
        const shed = (res.statusCode === 503 || res.statusCode === 429) && res.retryAfter;
        if (shed && attempt < retries) {
          // As the widget does (widget/src/retry.ts): Retry-After plus up to 250 ms of jitter.
          await sleep((Number(res.retryAfter) * 1000 || 1000) + Math.random() * 250);
          continue;
        }
        if (outcome === 'ok') {
          acked++;
          lastAck = end;
        } else gaveUp++;
        c.answered(outcome, answer);
        break;
      }
      done++;
    }
  }
  const ticker = setInterval(() => {
    peakSockets = Math.max(
      peakSockets,
      ps.reduce((n, p) => n + p.stats.connected, 0),
    );
    onTick?.(done);
  }, 100);
  const started = performance.now();
  const deadline = started + limitSeconds * 1000;
  await Promise.all(Array.from({ length: connections }, (_, i) => run(i)));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(ticker);
  if (!pools) await closePools(ps);
  return { ...recorder.summary(seconds), acked, gaveUp, lastAck, peakSockets, ackedPerSecond: acked / seconds };
}

/**
 * Open-model arrivals: Poisson at `rate` per second for `seconds`, spread over `origins`; each
 * request's latency counts from when it was due, so a slow server cannot hide its queue (no
 * coordinated omission). At most `connections` sockets; requests beyond wait in the client's
 * queue, and that wait is in their latency. `next()` gives `{ kind, body, field }`.
 */
export async function openLoop({ origins, token, rate, seconds, connections, next, timeoutMillis, onSecond }) {
  const ps = openPools(origins, connections);
  const headers = headersFor(token);
  const all = new Recorder();
  const byKind = {};
  const inFlight = new Set();
  const t0 = performance.now();
  all.t0 = t0;
  let due = t0;
  let n = 0;
  let lastSecond = -1;
  while (due < t0 + seconds * 1000) {
    const now = performance.now();
    while (due <= now && due < t0 + seconds * 1000) {
      const start = due;
      const request = next();
      const pool = ps[n++ % ps.length];
      const p = post(pool, headers, request.body, timeoutMillis).then((res) => {
        const end = performance.now();
        const { outcome } = classify(res.statusCode, res.text, request.field);
        const answer = { start, end, ...res, outcome, sample: res.text, kind: request.kind };
        all.record(answer);
        (byKind[request.kind] ??= new Recorder(t0)).record(answer);
        inFlight.delete(p);
      });
      inFlight.add(p);
      due += (-Math.log(1 - Math.random()) / rate) * 1000;
    }
    const second = Math.floor((now - t0) / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      onSecond?.(second, inFlight.size);
    }
    await sleep(Math.min(5, Math.max(0, due - performance.now())));
  }
  const arrivalsEnded = performance.now();
  await Promise.all(inFlight);
  const lastAnswer = performance.now();
  await Promise.all(ps.map((p) => p.close()));
  return {
    rate,
    arrivals: n,
    ...all.summary(seconds),
    byKind: Object.fromEntries(Object.entries(byKind).map(([k, r]) => [k, r.summary(seconds)])),
    /** From the last arrival until the last answer: the queue the server had left. */
    backlogMillis: lastAnswer - arrivalsEnded,
  };
}

/**
 * `count` HTTP/1.1 keep-alive connections to `origin`, each having made one request (`GET
 * /health`) and then left open and idle, as browsers leave them: what an api holds per idle
 * client. Opened `batch` at a time so the listen backlog never overflows. Resolves once every
 * one has its answer (or failed); `close()` ends them.
 */
export async function idleConnections(origin, count, batch = 500) {
  const { hostname, port } = new URL(origin);
  const sockets = [];
  let failed = 0;
  const openOne = () =>
    new Promise((resolve) => {
      const socket = net.connect({ host: hostname, port: Number(port) });
      let settled = false;
      const settle = (answered) => {
        if (settled) return;
        settled = true;
        if (answered) sockets.push(socket);
        else failed++;
        resolve();
      };
      socket.once('connect', () =>
        socket.write(`GET /health HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n\r\n`),
      );
      socket.once('data', () => settle(true));
      socket.once('error', () => settle(false));
      socket.once('close', () => settle(false));
    });
  for (let opened = 0; opened < count; opened += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - opened) }, openOne));
  }
  return {
    open: sockets.length,
    failed,
    close: () => sockets.forEach((socket) => socket.destroy()),
  };
}
