// Small tools for the attacks of one-client.mjs, plain Node 20 and dependency-free like
// replay.mjs: HTTP from a chosen source address (on Linux every 127.0.0.0/8 address is this
// machine, so a client bound to 127.0.0.2 is "another address" to the server), raw sockets,
// a WebSocket upgrade without a WebSocket client, a minimal Redis client, a process's memory,
// psql, and percentiles.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => performance.now();
export const mb = (bytes) => (bytes === undefined ? '?' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);
/** "+12 MB" or "-3 MB". */
export const signedMb = (bytes) => `${bytes < 0 ? '-' : '+'}${mb(Math.abs(bytes))}`;
export const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** The p-th percentile (0–100) of `values`, or undefined for none. */
export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** "HTTP 400 ×12, HTTP 200 ×3" from a { label: count } tally, most frequent first. */
export function tallyText(tally) {
  const entries = Object.entries(tally).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([label, count]) => `${label} ×${count}`).join(', ') : 'none';
}

export const bump = (tally, label) => {
  tally[label] = (tally[label] ?? 0) + 1;
};

// ---------------------------------------------------------------------------------------
// HTTP from a chosen address

// Keep-alive, like a browser or a client library; Node's agents pool per local address too.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One HTTP request from `localAddress` (default: whatever the kernel picks); never throws.
 * Same result shape as replay.mjs' `request`: status 0 and `error` when there was no answer.
 */
export function httpRequest(
  base,
  path,
  { method = 'GET', headers = {}, body, localAddress, timeoutMs = 120_000, keepAlive = true } = {},
) {
  const started = now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ms: now() - started, ...result });
    };
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request(new URL(path, base), {
      method,
      localAddress,
      agent: keepAlive ? agent : false,
      headers: { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ status: 0, error: `no answer within ${timeoutMs} ms`, bytes: 0 });
    }, timeoutMs);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', () => undefined);
      res.on('close', () => {
        const buffer = Buffer.concat(chunks);
        const text = buffer.toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        finish({ status: res.statusCode, headers: responseHeaders, bytes: buffer.length, text, json });
      });
    });
    // A server that answers (413, 503) before reading the whole body may reset the
    // connection while we still write: the answer, if any, arrived first and wins.
    req.on('error', (error) => finish({ status: 0, error: error.code ?? error.message, bytes: 0 }));
    req.end(payload);
  });
}

/** A POST /graphql from `localAddress`, with a token and extra headers when given. */
export function gqlFrom(base, localAddress, query, variables, token, { headers = {}, timeoutMs } = {}) {
  return httpRequest(base, '/graphql', {
    method: 'POST',
    localAddress,
    timeoutMs,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
}

/** A raw TCP connection from `localAddress`; resolves with the socket, or undefined when refused. */
export function rawSocket(host, port, localAddress) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(undefined));
  });
}

/** One masked client text frame (RFC 6455 §5.2), for short payloads only. */
function textFrame(text) {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('textFrame: payload too long');
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/**
 * A graphql-ws WebSocket from `headers` (e.g. X-Forwarded-For), opened by hand so the headers
 * can be chosen; sends connection_init so the server keeps it. Resolves with
 * `{ accepted: true, socket }` on 101, or `{ accepted: false, status }`.
 */
export function webSocketUpgrade(base, headers = {}, localAddress) {
  return new Promise((resolve) => {
    const req = http.request(new URL('/graphql', base), {
      localAddress,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': 'graphql-transport-ws',
        ...headers,
      },
    });
    req.on('upgrade', (_res, socket) => {
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      socket.write(textFrame('{"type":"connection_init","payload":{}}'));
      resolve({ accepted: true, socket });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ accepted: false, status: res.statusCode });
    });
    req.on('error', (error) => resolve({ accepted: false, status: error.code ?? 'error' }));
    req.end();
  });
}

// ---------------------------------------------------------------------------------------
// Redis: just enough RESP2 for INFO, CONFIG, SCAN, SET, UNLINK

/** Parses one reply from `buffer` at `offset`: `{ value, offset }`, or undefined when incomplete. */
function parseReply(buffer, offset) {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset]);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, offset: next };
    case '-':
      return { value: new RedisReplyError(line), offset: next };
    case ':':
      return { value: Number(line), offset: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, offset: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), offset: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, offset: next };
      const items = [];
      let at = next;
      for (let i = 0; i < count; i += 1) {
        const item = parseReply(buffer, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.offset;
      }
      return { value: items, offset: at };
    }
    default:
      throw new Error(`unexpected Redis reply type ${JSON.stringify(type)}`);
  }
}

export class RedisReplyError extends Error {}

/** A connection to `url` (redis://host:port[/db]); `command(...)` resolves with the reply (errors as RedisReplyError values). */
export async function connectRedis(url) {
  const { hostname, port, pathname } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port || 6379) });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const waiting = [];
  let buffer = Buffer.alloc(0);
  socket.on('data', (data) => {
    buffer = buffer.length ? Buffer.concat([buffer, data]) : data;
    for (;;) {
      const reply = buffer.length ? parseReply(buffer, 0) : undefined;
      if (!reply) break;
      buffer = buffer.subarray(reply.offset);
      waiting.shift()?.resolve(reply.value);
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    for (const waiter of waiting.splice(0)) waiter.resolve(new RedisReplyError('connection closed'));
  });
  const command = (...parts) =>
    new Promise((resolve) => {
      waiting.push({ resolve });
      const chunks = [`*${parts.length}\r\n`];
      for (const part of parts.map(String)) chunks.push(`$${Buffer.byteLength(part)}\r\n${part}\r\n`);
      socket.write(chunks.join(''));
    });
  const db = Number(pathname.slice(1) || 0);
  if (db) await command('SELECT', db);
  return {
    command,
    /** INFO <section> as { field: value }. */
    async info(section) {
      const text = await command('INFO', section);
      if (text instanceof Error) throw text;
      return Object.fromEntries(
        text
          .split('\r\n')
          .filter((line) => line.includes(':'))
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
      );
    },
    async usedMemory() {
      return Number((await this.info('memory')).used_memory);
    },
    /** Keys matching `pattern`, counted with SCAN (never KEYS). */
    async countKeys(pattern) {
      let cursor = '0';
      let count = 0;
      do {
        const [next, keys] = await command('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        count += keys.length;
      } while (cursor !== '0');
      return count;
    },
    /** The first key matching `pattern`, or undefined. */
    async firstKey(pattern) {
      let cursor = '0';
      do {
        const [next, keys] = await command('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length) return keys[0];
        cursor = next;
      } while (cursor !== '0');
      return undefined;
    },
    close() {
      socket.end();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Processes and databases

/** The resident set size of `pid` in bytes (Linux /proc), or undefined when it is gone. */
export function processRss(pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return processRss(pid) !== undefined;
  } catch {
    return false;
  }
}

/** RSS and V8 heap in use from the api's /metrics (prom-client's default metrics), when it answers. */
export async function metricsMemory(base) {
  const response = await httpRequest(base, '/metrics', { timeoutMs: 5000 });
  if (response.status !== 200) return {};
  const value = (name) => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(response.text);
    return match ? Number(match[1]) : undefined;
  };
  return { rss: value('process_resident_memory_bytes'), heap: value('nodejs_heap_size_used_bytes') };
}

/** Runs `sql` through psql on `url`; resolves with its output (trimmed), or throws with psql's message. */
export function psql(url, sql) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'psql',
      [url, '-X', '-At', '-v', 'ON_ERROR_STOP=1'],
      { timeout: 30_000 },
      (error, stdout, stderr) => (error ? reject(new Error((stderr || error.message).trim())) : resolve(stdout.trim())),
    );
    child.stdin.end(sql);
  });
}

/** A quoted SQL identifier (the database names the campaign makes are plain, but be safe). */
export const sqlIdentifier = (name) => `"${name.replaceAll('"', '""')}"`;
export const sqlLiteral = (value) => `'${String(value).replaceAll("'", "''")}'`;
