// What the runs check after a load: rows stored (waitRows), the write buffer's health
// (bufferHealth), the processes' warnings (logSummary).
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { sleep } from './harness.mjs';

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

/**
 * Which master serves the write buffer's commands: every master's MONITOR for `millis`, after
 * `delayMillis`, counting the commands a client sent (not those a script ran) that name a key of
 * the buffer (`buffer:{<shard tag>}:…`). A sample, since MONITOR slows a Redis: it shows how
 * the load spreads, not how much there is. `masters` are `{ host, port }`. The stream is read
 * from a plain socket: one line per command, `+<time> [<db> <client or lua>] "<command>" …`.
 */
export async function sampleBufferCommands(masters, { delayMillis, millis }) {
  await sleep(delayMillis);
  const counts = {};
  const sockets = masters.map(({ host, port }) => {
    const node = `${host}:${port}`;
    counts[node] = 0;
    let rest = '';
    const socket = connect({ host, port }, () => socket.write('MONITOR\r\n'));
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      const lines = (rest + chunk).split('\r\n');
      rest = lines.pop();
      for (const line of lines) if (!line.includes(' lua] ') && line.includes('buffer:{')) counts[node]++;
    });
    return socket;
  });
  await sleep(millis);
  for (const socket of sockets) socket.destroy();
  return counts;
}
