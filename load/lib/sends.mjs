// Chat sends as a load (sendLoad: closed-loop clients over keep-alive connections), and what
// the runs check after it: rows stored, the buffer's health, the processes' warnings.
import { readFileSync } from 'node:fs';
import { keepAlivePool, latencySummary, postGraphql } from '../bench-read/loadgen.mjs';
import { sleep } from './harness.mjs';

const SEND = 'mutation Send($i: SendMessageInput!) { sendMessage(input: $i) { conversationId message { id status } } }';
// A widget's visitors ask the same few things; with Redis on, retrieval is answered by the vector cache.
export const TEXTS = [
  'When are you open on Saturday?',
  'Do you sell decaf beans by the kilo?',
  'Can I get a refund on a gift card?',
  'How long does shipping abroad take?',
  'Do you have oat milk?',
];

/**
 * `total` sends from `connections` closed-loop clients over one pool (one keep-alive
 * connection each); each client keeps a conversation for `sendsPerConversation` sends, then
 * starts a new one. Every answer's latency is kept (exact percentiles).
 */
export async function sendLoad({
  origin,
  token,
  botId,
  total,
  connections,
  onTick,
  sendsPerConversation = Number(process.env.SENDS_PER_CONVERSATION ?? 5),
  requestTimeoutSeconds = Number(process.env.REQUEST_TIMEOUT_SECONDS ?? 60),
}) {
  const pool = keepAlivePool(origin, connections);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const timeout = requestTimeoutSeconds * 1000;
  const latencies = [];
  const httpCodes = {};
  const errorCodes = {};
  const errorSamples = new Map();
  const statuses = {};
  /** Conversations a send was told NOT_FOUND about, though an earlier send had created them. */
  const lostConversations = new Set();
  let issued = 0;
  let acked = 0;
  let errors = 0;
  let lastAck = 0;
  let peakSockets = 0;
  const bump = (map, key) => (map[key] = (map[key] ?? 0) + 1);
  const fail = (code, sample) => {
    errors++;
    bump(errorCodes, code);
    if (errorSamples.size < 5 && !errorSamples.has(code)) errorSamples.set(code, String(sample).slice(0, 300));
  };
  async function client() {
    let conversationId = null;
    let sent = 0;
    while (issued < total) {
      const n = issued++;
      if (sent >= sendsPerConversation) [conversationId, sent] = [null, 0];
      const body = JSON.stringify({
        query: SEND,
        variables: { i: { botId, text: TEXTS[n % TEXTS.length], ...(conversationId ? { conversationId } : {}) } },
      });
      const t0 = performance.now();
      const { statusCode, text, error } = await postGraphql(pool, headers, body, timeout);
      const t1 = performance.now();
      latencies.push(t1 - t0);
      bump(httpCodes, statusCode || 'none');
      if (statusCode === 0) {
        fail(error.code ?? error.name ?? 'client error', error);
        continue;
      }
      let answer;
      try {
        answer = JSON.parse(text);
      } catch {
        fail(`HTTP ${statusCode}, not JSON`, text);
        continue;
      }
      const sentMessage = answer.data?.sendMessage;
      if (statusCode !== 200 || answer.errors || !sentMessage?.message?.id) {
        const code = answer.errors?.[0]?.extensions?.code ?? `HTTP ${statusCode}`;
        fail(code, text);
        if (code === 'NOT_FOUND' && conversationId) lostConversations.add(conversationId);
        // A client that cannot post to its conversation starts a new one rather than insist.
        [conversationId, sent] = [null, 0];
        continue;
      }
      acked++;
      lastAck = t1;
      bump(statuses, sentMessage.message.status);
      conversationId = sentMessage.conversationId;
      sent++;
    }
  }
  const ticker = setInterval(() => {
    peakSockets = Math.max(peakSockets, pool.stats.connected);
    onTick?.();
  }, 100);
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, client));
  const ended = performance.now();
  clearInterval(ticker);
  peakSockets = Math.max(peakSockets, pool.stats.connected);
  await pool.close();
  return {
    ...latencySummary(latencies, (ended - started) / 1000),
    acked,
    ackedPerSecond: acked / ((ended - started) / 1000),
    errors,
    httpCodes,
    errorCodes,
    errorSamples: Object.fromEntries(errorSamples),
    statuses,
    lostConversations: lostConversations.size,
    lastAck,
    peakSockets,
  };
}

/** Polls `SELECT count(*) FROM messages` until it reaches `expected`; returns when, or null on time-out. */
export async function waitRows(db, expected, seconds, pollMillis = Number(process.env.DRAIN_POLL_MILLIS ?? 50)) {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    const [{ n }] = await db.query('SELECT count(*)::int AS n FROM messages');
    const now = performance.now();
    if (n >= expected) return { reachedAt: now, rows: n };
    if (now > deadline) return { reachedAt: null, rows: n };
    await sleep(pollMillis);
  }
}

/** `/health/buffer` of an api, or `{ error }` when it did not answer. */
export async function bufferHealth(origin) {
  try {
    return await fetch(`${origin}/health/buffer`).then((r) => r.json());
  } catch (error) {
    return { error: String(error) };
  }
}

/** The warn/error/fatal lines of a process's log, by message (pino levels 40/50/60). */
export function logSummary(file) {
  const byMessage = new Map();
  let other = 0;
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      byMessage.set(`(not JSON) ${line.slice(0, 160)}`, (byMessage.get(`(not JSON) ${line.slice(0, 160)}`) ?? 0) + 1);
      continue;
    }
    if (entry.level >= 40) {
      const key = `${{ 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }[entry.level] ?? entry.level} ${entry.msg}${entry.err?.message ? `: ${entry.err.message.slice(0, 160)}` : ''}`;
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
    } else other++;
  }
  return { lines: Object.fromEntries(byMessage), belowWarn: other };
}
