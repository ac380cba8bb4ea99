#!/usr/bin/env node
// Replays the attacks of issue 5 (1–15) and of issue 15 (16–25, in one-client.mjs) against a
// running Parley and prints, per attack, how long it took and what the server answered; for
// 16–25 also what another client experienced meanwhile. Plain Node 20 ESM, no dependencies: the WebSocket
// attacks use Node's own WebSocket (behind --experimental-websocket on Node 20, so the
// script re-runs itself with that flag when it is missing). See README.md beside it.

import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { oneClientAttacks } from './one-client.mjs';

if (typeof globalThis.WebSocket !== 'function') {
  if (process.env.PARLEY_REPLAY_REEXEC) {
    console.error('This Node has no WebSocket, even with --experimental-websocket: use Node 20.10 or later.');
    process.exit(2);
  }
  const child = spawnSync(
    process.execPath,
    ['--experimental-websocket', '--no-warnings', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, PARLEY_REPLAY_REEXEC: '1' } },
  );
  process.exit(child.status ?? 1);
}

const USAGE = `Usage: node load/attacks/replay.mjs --url http://127.0.0.1:4000 [--db postgres://…] [--only 1,8,14] [--timeout 120]
       node load/attacks/replay.mjs --url http://127.0.0.1:4000 --only 16-25 [--pid …] [--redis …] [--db …]

  --url       the api's base URL (default http://127.0.0.1:4000)
  --db        the instance's DATABASE_URL; with psql on the PATH attacks 13, 23 and 24 check
              outcomes in the database (read-only), and attack 24 (which needs it) cuts that
              database off for 15 s
  --only      attack numbers, e.g. 1,8,14 or 16-25 (default: 1 to 15; attacks 16 to 25 are
              hostile to the instance and run only when named)
  --timeout   seconds to wait for any one answer or source (default 120)

  For attacks 16-25 (issue 15), best run by campaign.mjs, one fresh instance per attack:
  --pid       the api's process id: its RSS is read from /proc (default: from /metrics)
  --redis     the instance's own Redis URL: memory and keys (22, 23 need it; 23 fills it)
  --pg-admin  a URL to the same PostgreSQL's admin database for 24 (default: --db's, /postgres)
  --count     requests of 17 (default 160) and sends of 23 (default 2500)
  --settle    seconds 17 waits idle before reading memory again (default 0)
  --duration  seconds of each timed phase (default per attack: 16 30, 18 40, 21 10, 22 20,
              23 30, 24 15)
  --control   the steps a person would do (23: stop and start the worker) are asked for on
              stdout as "@@control <step>" and acknowledged with a line "ok" on stdin
              (campaign.mjs does this); without it they are asked for at the terminal`;

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:4000' },
    db: { type: 'string' },
    only: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    pid: { type: 'string' },
    redis: { type: 'string' },
    'pg-admin': { type: 'string' },
    count: { type: 'string' },
    settle: { type: 'string' },
    duration: { type: 'string' },
    control: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const BASE = args.url.replace(/\/+$/, '');
const WS_URL = `${BASE.replace(/^http/, 'ws')}/graphql`;
const TIMEOUT_MS = Number(args.timeout) * 1000;
/** "1,8,16-25" as a set of numbers. */
function parseOnly(text) {
  const numbers = new Set();
  for (const part of text.split(',')) {
    const [from, to = from] = part.split('-').map((n) => Number(n.trim()));
    for (let n = from; n <= to; n += 1) numbers.add(n);
  }
  return numbers;
}
const ONLY = args.only ? parseOnly(args.only) : undefined;
const optionalNumber = (text) => (text === undefined ? undefined : Number(text));
const numbers = ['pid', 'count', 'settle', 'duration'].map((name) => optionalNumber(args[name]));
if (!Number.isFinite(TIMEOUT_MS) || TIMEOUT_MS <= 0 || numbers.some((n) => n !== undefined && !(n >= 0))) {
  console.error(USAGE);
  process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();
const randomHex = (bytes) => randomBytes(bytes).toString('hex');
const clip = (text, max = 90) => {
  const flat = String(text).replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};
const kb = (bytes) => (bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${bytes} B`);

// ---------------------------------------------------------------------------------------
// HTTP

/** One request with a time limit; never throws. */
async function request(path, { method = 'GET', headers = {}, body, timeoutMs = TIMEOUT_MS } = {}) {
  const started = now();
  try {
    const response = await fetch(BASE + path, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const buffer = Buffer.from(await response.arrayBuffer());
    const ms = now() - started;
    const text = buffer.toString('utf8');
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, bytes: buffer.length, text, json, ms };
  } catch (error) {
    const reason =
      error?.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (error?.cause?.code ?? error?.cause?.message ?? error?.message);
    return { status: 0, error: String(reason), bytes: 0, ms: now() - started };
  }
}

function gql(query, variables, token, headers = {}) {
  return request('/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
}

const firstError = (response) => response.json?.errors?.[0];

/** "HTTP 400 BAD_USER_INPUT: message" or "HTTP 200 ok". */
function answer(response, { message = true } = {}) {
  if (response.status === 0) return `no HTTP answer (${response.error})`;
  const error = firstError(response);
  if (!error) return `HTTP ${response.status} ok`;
  const code = error.extensions?.code ?? 'no code';
  return `HTTP ${response.status} ${code}${message ? `: "${clip(error.message, 70)}"` : ''}`;
}

function upload(token, botId, filename, type, content) {
  const form = new FormData();
  form.append('botId', botId);
  form.append('file', new Blob([content], { type }), filename);
  return request('/uploads', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
}

/**
 * Runs `attack` while sending `GET /health` again and again (the first after 25 ms, then
 * 100 ms after each answer) until the attack is answered. A server whose event loop the
 * attack blocks answers the probes late: the slowest probe is about how long it was blocked.
 */
async function withHealthProbe(attack) {
  let done = false;
  const running = attack().finally(() => {
    done = true;
  });
  const latencies = [];
  await sleep(25);
  do {
    const probe = await request('/health');
    latencies.push(probe.status === 200 ? probe.ms : Number.POSITIVE_INFINITY);
    if (!done) await sleep(100);
  } while (!done);
  const result = await running;
  const max = Math.max(...latencies);
  return {
    result,
    health: Number.isFinite(max)
      ? `/health max ${Math.round(max)} ms (${latencies.length} probe${latencies.length === 1 ? '' : 's'})`
      : '/health FAILED during the attack',
  };
}

// ---------------------------------------------------------------------------------------
// GraphQL operations

const SIGN_UP = 'mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }';
const CREATE_BOT = 'mutation($i: CreateBotInput!) { createBot(input: $i) { id publicKey } }';
const CREATE_SOURCE = 'mutation($i: CreateSourceInput!) { createSource(input: $i) { id status } }';
const SOURCE = 'query($id: ID!) { source(id: $id) { status error chunkCount } }';
const START_WIDGET = 'mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }';
const SEND_MESSAGE = 'mutation($i: SendMessageInput!) { sendMessage(input: $i) { conversationId message { id } } }';
const STATUS_SUBSCRIPTION = 'subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId status } }';

const strongPassword = () => `Replay-${randomBytes(12).toString('base64url')}-pass`;
const replayEmail = (tag) => `replay-${tag}-${randomHex(6)}@example.com`;

/** Fails loudly: set-up steps must work for the attacks to mean anything. */
function must(response, pick, what) {
  const value = response.json?.data ? pick(response.json.data) : undefined;
  if (value === undefined || value === null) throw new Error(`${what} failed: ${answer(response)}`);
  return value;
}

async function signUpOwner(tag) {
  const email = replayEmail(tag);
  const response = await gql(SIGN_UP, { i: { email, password: strongPassword() } });
  const payload = must(response, (d) => d.signUp, `sign-up of ${email}`);
  return { email, token: payload.token, userId: payload.user.id };
}

async function createBot(token, name) {
  return must(await gql(CREATE_BOT, { i: { name } }, token), (d) => d.createBot, `createBot ${name}`);
}

async function createTextSource(token, botId, title, text) {
  return gql(CREATE_SOURCE, { i: { botId, kind: 'TEXT', title, text } }, token);
}

/** Polls a source until READY or FAILED (or the time limit); `startedAt` is when it was sent. */
async function waitForSource(token, id, startedAt) {
  for (;;) {
    const response = await gql(SOURCE, { id }, token);
    const source = response.json?.data?.source;
    const ms = now() - startedAt;
    if (source?.status === 'READY') return { ms, done: true, text: `READY, ${source.chunkCount} chunks` };
    if (source?.status === 'FAILED') return { ms, done: true, text: `FAILED: "${clip(source.error, 80)}"` };
    if (ms > TIMEOUT_MS) {
      return {
        ms,
        done: false,
        text: `still ${source?.status ?? `unknown (${answer(response)})`} after the time limit`,
      };
    }
    await sleep(200);
  }
}

/** Uploads or creates a source, then waits for it: one result line's worth. */
async function sourceAttack(token, send) {
  const startedAt = now();
  const response = await send();
  const id = response.json?.source?.id ?? response.json?.data?.createSource?.id;
  if (!id) return { ms: now() - startedAt, text: `not accepted: ${answer(response)}` };
  const done = await waitForSource(token, id, startedAt);
  return { ms: done.ms, text: `accepted (HTTP ${response.status}); ${done.text}`, id };
}

// ---------------------------------------------------------------------------------------
// WebSocket (graphql-transport-ws)

/** Opens a socket and sends connection_init; `ready` settles on connection_ack or the close. */
function openSocket(payload = {}) {
  const socket = new WebSocket(WS_URL, 'graphql-transport-ws');
  const listeners = new Set();
  let closeInfo;
  const closed = new Promise((resolve) => {
    socket.addEventListener('close', (event) => {
      closeInfo = { code: event.code, reason: event.reason, at: now() };
      resolve(closeInfo);
      for (const listener of listeners) listener(undefined);
    });
  });
  socket.addEventListener('error', () => {});
  const ready = new Promise((resolve) => {
    socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
    socket.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (message.type === 'connection_ack') resolve(true);
      if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
      for (const listener of listeners) listener(message);
    });
    void closed.then(() => resolve(false));
  });
  return {
    socket,
    ready,
    closed,
    get closeInfo() {
      return closeInfo;
    },
    /** Resolves with the first message for `id` other than `complete`, the close, or a time-out. */
    next(id, timeoutMs = 10_000) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          resolve({ type: 'timeout' });
        }, timeoutMs);
        const listener = (message) => {
          if (message === undefined) {
            clearTimeout(timer);
            listeners.delete(listener);
            resolve({ type: 'closed', ...closeInfo });
          } else if (message.id === id && message.type !== 'complete') {
            clearTimeout(timer);
            listeners.delete(listener);
            resolve(message);
          }
        };
        listeners.add(listener);
        if (closeInfo) listener(undefined);
      });
    },
    send(message) {
      socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    async close() {
      if (!closeInfo) {
        socket.close(1000);
        await Promise.race([closed, sleep(2000)]);
      }
    },
  };
}

async function wsOperation(connection, id, query, variables, timeoutMs) {
  const started = now();
  const answerPromise = connection.next(id, timeoutMs);
  connection.send({ id, type: 'subscribe', payload: { query, variables } });
  const message = await answerPromise;
  return { message, ms: now() - started };
}

/** A graphql-ws answer in a few words. */
function wsAnswer(message, describeData = (data) => `data ${clip(JSON.stringify(data), 60)}`) {
  switch (message.type) {
    case 'next': {
      const error = message.payload?.errors?.[0];
      if (error) return `next with error ${error.extensions?.code ?? 'no code'}: "${clip(error.message, 60)}"`;
      return `next, ${describeData(message.payload?.data)}`;
    }
    case 'error': {
      const error = message.payload?.[0];
      return `error ${error?.extensions?.code ?? 'no code'}: "${clip(error?.message, 70)}"`;
    }
    case 'closed':
      return `socket closed ${message.code}${message.reason ? ` "${clip(message.reason, 50)}"` : ''}`;
    case 'timeout':
      return 'no answer (time-out)';
    default:
      return message.type;
  }
}

// ---------------------------------------------------------------------------------------
// Database checks (optional, read-only, through psql)

/** One value from the database, or undefined without --db. Values go in as psql variables. */
async function dbScalar(sql, params = []) {
  if (!args.db) return undefined;
  const flags = params.flatMap((value, index) => ['-v', `p${index + 1}=${value}`]);
  return new Promise((resolve) => {
    const child = execFile(
      'psql',
      [args.db, '-X', '-At', '-v', 'ON_ERROR_STOP=1', ...flags],
      { timeout: 10_000 },
      (error, stdout, stderr) => resolve(error ? `psql failed: ${clip(stderr || error.message, 60)}` : stdout.trim()),
    );
    child.stdin.end(sql);
  });
}

// ---------------------------------------------------------------------------------------
// Output

const NAME_WIDTH = 58;
let failures = 0;

function print(name, ms, text, extra) {
  const time = ms === undefined ? '-' : `${Math.round(ms)} ms`;
  console.log(`${name.padEnd(NAME_WIDTH)} ${time.padStart(9)}  ${text}${extra ? `  | ${extra}` : ''}`);
}

/** One line per attack of 16-25 in a fixed form, for campaign.mjs' table. */
function summary(n, text) {
  console.log(`SUMMARY ${n}: ${text}`);
}

let stdinLines;
/** The next line of stdin (undefined at its end). */
async function nextStdinLine() {
  stdinLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  return (await stdinLines.next()).value;
}

/**
 * A step on the instance that the script cannot do itself (stop or start the worker): asked of
 * campaign.mjs with --control, otherwise of the person at the terminal.
 */
async function control(step, description) {
  if (args.control) {
    console.log(`@@control ${step}`);
    const reply = await nextStdinLine();
    if (reply?.trim() !== 'ok') throw new Error(`${step}: ${reply ?? 'no answer on stdin'}`);
    return;
  }
  if (!process.stdin.isTTY) throw new Error(`this attack needs someone to ${description}: use --control or a terminal`);
  console.log(`>>> ${description}, then press Enter`);
  await nextStdinLine();
}

// ---------------------------------------------------------------------------------------
// Shared set-up, made on first use

const once = (make) => {
  let promise;
  return () => (promise ??= make());
};

const created = { owners: [], bots: [] };

const ownerA = once(async () => {
  const owner = await signUpOwner('owner');
  created.owners.push(owner);
  return owner;
});
const botA = once(async () => {
  const bot = await createBot((await ownerA()).token, 'Replay target');
  created.bots.push({ ...bot, token: (await ownerA()).token });
  return bot;
});
/** A bot with three small READY sources (attacks 6, 7); queued early so they are ready by then. */
const botB = once(async () => {
  const { token } = await ownerA();
  const bot = await createBot(token, 'Replay with sources');
  created.bots.push({ ...bot, token });
  const texts = [
    'Refunds are paid within 14 days of a return.',
    'Shipping to the EU takes three to five working days.',
    'Gift cards are valid for two years from purchase.',
  ];
  const ids = [];
  for (const [index, text] of texts.entries()) {
    const response = await createTextSource(token, bot.id, `Fact ${index + 1}`, text);
    ids.push(must(response, (d) => d.createSource.id, 'createSource'));
  }
  return { ...bot, sourceIds: ids };
});

// ---------------------------------------------------------------------------------------
// The attacks

const issue5Attacks = [
  {
    n: 1,
    async run() {
      const email = `a@${'.'.repeat(40_000)}@`;
      const { result, health } = await withHealthProbe(() =>
        gql(SIGN_UP, { i: { email, password: strongPassword() } }),
      );
      print('1  signUp e-mail "a@"+"."x40000+"@"', result.ms, answer(result), health);
    },
  },
  {
    n: 2,
    async run() {
      const { token } = await ownerA();
      const bot = await botA();
      const startedAt = now();
      const { result, health } = await withHealthProbe(() =>
        upload(token, bot.id, 'page.html', 'text/html', '<title '.repeat(30_000)),
      );
      const id = result.json?.source?.id;
      print(
        '2  upload .html "<title "x30000',
        result.ms,
        id ? `HTTP ${result.status} accepted` : answer(result),
        health,
      );
      if (id) {
        const done = await waitForSource(token, id, startedAt);
        print('2  … its ingestion', done.ms, done.text);
      }
    },
  },
  {
    n: 3,
    async run() {
      const { token } = await ownerA();
      const bot = await botA();
      const result = await sourceAttack(token, () =>
        createTextSource(token, bot.id, 'Spaces', `a${' '.repeat(50_000)}refund`),
      );
      print('3  TEXT "a"+" "x50000+"refund" until done', result.ms, result.text);
    },
  },
  {
    n: 4,
    async run() {
      const { token } = await ownerA();
      const bot = await botA();
      // The other owner is ready before the clock starts, so only the two sources are timed.
      const other = await signUpOwner('other');
      created.owners.push(other);
      const otherBot = await createBot(other.token, 'Another owner');
      created.bots.push({ ...otherBot, token: other.token });
      const heavy = sourceAttack(token, () =>
        upload(token, bot.id, 'emphasis.md', 'text/markdown', ' **a'.repeat(40_000)),
      );
      await sleep(50);
      const small = sourceAttack(other.token, () =>
        createTextSource(other.token, otherBot.id, 'Small', 'Our office is open Monday to Friday.'),
      );
      const [heavyResult, smallResult] = await Promise.all([heavy, small]);
      print('4  upload .md " **a"x40000 until done', heavyResult.ms, heavyResult.text);
      print("4  … another owner's small TEXT until done", smallResult.ms, smallResult.text);
    },
  },
  {
    n: 5,
    async run() {
      const { token } = await ownerA();
      const bot = await botA();
      const runs = [
        ['"<!--"x40000', 'comments.md', '<!--'],
        ['"[a]("x40000', 'links.md', '[a]('],
        ['"<a"x40000', 'tags.md', '<a'],
      ];
      const results = await Promise.all(
        runs.map(([, filename, unit]) =>
          sourceAttack(token, () => upload(token, bot.id, filename, 'text/markdown', unit.repeat(40_000))),
        ),
      );
      for (const [index, [label]] of runs.entries()) {
        print(`5  upload .md ${label} until done`, results[index].ms, results[index].text);
      }
    },
  },
  {
    n: 6,
    async run() {
      const { token } = await ownerA();
      const bot = await botB();
      const states = await Promise.all(bot.sourceIds.map((id) => waitForSource(token, id, now())));
      const ready = states.filter((state) => state.text.startsWith('READY')).length;
      const query =
        'query($id: ID!) { bot(id: $id) { sources { bot { sources { bot { sources { bot { id } } } } } } } }';
      const result = await gql(query, { id: bot.id }, token);
      const leaves = (result.text.match(/"id"/g) ?? []).length;
      print(
        '6  depth 7: bot.sources.bot.sources… (owner)',
        result.ms,
        `${answer(result)}, ${kb(result.bytes)}${result.json?.data?.bot ? `, ${leaves} bot ids` : ''}`,
        `${ready} of 3 sources READY`,
      );
    },
  },
  {
    n: 7,
    async run() {
      const bot = await botB();
      const visitor = must(
        await gql(START_WIDGET, { k: bot.publicKey }),
        (d) => d.startWidgetSession.token,
        'startWidgetSession',
      );
      const text = 'Can I get a refund for a gift card I bought for the EU shop? '.repeat(70).slice(0, 4000);
      let conversationId;
      for (let i = 0; i < 10; i += 1) {
        const sent = await gql(SEND_MESSAGE, { i: { botId: bot.id, conversationId, text } }, visitor);
        conversationId = must(sent, (d) => d.sendMessage.conversationId, 'sendMessage');
      }
      const aliases = Array.from(
        { length: 100 },
        (_, i) => `c${i}: conversation(id: $c) { messages(last: 500) { content } }`,
      ).join(' ');
      const { result, health } = await withHealthProbe(() =>
        gql(`query($c: ID!) { ${aliases} }`, { c: conversationId }, visitor),
      );
      print(
        '7  100 aliases x messages(last:500) (visitor)',
        result.ms,
        `${answer(result)}, ${kb(result.bytes)}`,
        health,
      );
      // What the limits still allow: 10 aliases, the default maximum.
      const ten = aliases.split(' c10:')[0];
      const within = await withHealthProbe(() => gql(`query($c: ID!) { ${ten} }`, { c: conversationId }, visitor));
      print(
        '7b 10 aliases x messages(last:500) (visitor)',
        within.result.ms,
        `${answer(within.result)}, ${kb(within.result.bytes)}`,
        within.health,
      );
    },
  },
  {
    n: 8,
    async run() {
      const anonymous = openSocket();
      if (!(await anonymous.ready)) {
        print('8  WebSocket connect (anonymous)', undefined, `refused: closed ${anonymous.closeInfo?.code}`);
        return;
      }
      const types = (data) =>
        data?.__schema ? `${data.__schema.types.length} types` : `data ${clip(JSON.stringify(data), 50)}`;
      let op = await wsOperation(anonymous, 'i1', '{ __schema { types { name } } }');
      print('8a WS introspection as query (anonymous)', op.ms, wsAnswer(op.message, types));
      op = await wsOperation(anonymous, 'i2', 'subscription { __schema { types { name } } }');
      print('8b WS introspection as subscription (anon.)', op.ms, wsAnswer(op.message, types));
      op = await wsOperation(
        anonymous,
        'e1',
        'subscription { messageStatusChanged(conversationId: "not-an-id") { nope } }',
      );
      const payloadErrors = op.message.type === 'error' ? op.message.payload : op.message.payload?.errors;
      const requestId = payloadErrors?.[0]?.extensions?.requestId;
      print(
        '8c WS invalid subscription: request id?',
        op.ms,
        `${wsAnswer(op.message)}; ${requestId ? `requestId ${requestId}` : 'NO requestId'}`,
      );
      await anonymous.close();

      const { token, userId } = await ownerA();
      const owner = openSocket({ authorization: `Bearer ${token}` });
      await owner.ready;
      op = await wsOperation(owner, 'q1', '{ me { id } }');
      const me = op.message.type === 'next' && op.message.payload?.data?.me?.id;
      print(
        '8d WS query { me { id } } (owner)',
        op.ms,
        me ? `answered, me.id ${me === userId ? 'is the owner' : me}` : wsAnswer(op.message),
      );
      await owner.close();

      const big = openSocket();
      await big.ready;
      const filler = 'x'.repeat(20 * 1024 * 1024);
      const message = JSON.stringify({
        id: 'big',
        type: 'subscribe',
        payload: { query: `# ${filler}\n{ __typename }` },
      });
      const started = now();
      const reply = big.next('big', 30_000);
      big.send(message);
      const result = await reply;
      print(
        `8e WS subscribe message of ${(message.length / 1024 / 1024).toFixed(0)} MB`,
        now() - started,
        result.type === 'next' ? `parsed and answered: ${wsAnswer(result)}` : wsAnswer(result),
      );
      await big.close();
    },
  },
  {
    n: 9,
    async run() {
      // An owner of its own: its session is logged out here. Owner sessions can post to the
      // conversation they started from any session of theirs, so a second session can make
      // an event after the first one logged out.
      const email = replayEmail('logout');
      const password = strongPassword();
      const first = must(await gql(SIGN_UP, { i: { email, password } }), (d) => d.signUp.token, 'sign-up');
      created.owners.push({ email, token: first });
      const bot = await createBot(first, 'Replay log-out');
      const sent = await gql(SEND_MESSAGE, { i: { botId: bot.id, text: 'Hello, is anyone there?' } }, first);
      const conversationId = must(sent, (d) => d.sendMessage.conversationId, 'sendMessage');
      const second = must(
        await gql('mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }', {
          e: email,
          p: password,
        }),
        (d) => d.logIn.token,
        'logIn',
      );
      // The clean-up deletes the bot with the session that stays signed in.
      created.bots.push({ ...bot, token: second });
      const connection = openSocket({ authorization: `Bearer ${first}` });
      if (!(await connection.ready)) {
        print('9  subscription, then logOut', undefined, `socket refused: closed ${connection.closeInfo?.code}`);
        return;
      }
      const opened = await wsOperation(connection, 's', STATUS_SUBSCRIPTION, { c: conversationId });
      if (opened.message.type !== 'next') {
        print('9  subscription, then logOut', opened.ms, `subscription refused: ${wsAnswer(opened.message)}`);
        await connection.close();
        return;
      }
      // Count what the socket receives after the log-out.
      const events = [];
      void (async () => {
        for (;;) {
          const message = await connection.next('s', 60_000);
          if (message.type !== 'next') return;
          events.push(message);
        }
      })();
      const logOut = await gql('mutation { logOut }', {}, first);
      const loggedOutAt = now();
      const closedInTime = await Promise.race([connection.closed.then(() => true), sleep(2000).then(() => false)]);
      let text;
      if (closedInTime) {
        const { code, reason, at } = connection.closeInfo;
        text = `socket closed ${code}${reason ? ` "${clip(reason, 50)}"` : ''} ${Math.round(at - loggedOutAt)} ms after logOut`;
      } else {
        // Still open: does the logged-out socket keep receiving the conversation's events?
        const before = events.length;
        const more = await gql(
          SEND_MESSAGE,
          { i: { botId: bot.id, conversationId, text: 'Sent after the log-out.' } },
          second,
        );
        await sleep(1000);
        text =
          `socket still OPEN 2 s after logOut; a message sent from another session then reached it as ` +
          `${events.length - before} event(s)${more.json?.data ? '' : ` (send: ${answer(more)})`}`;
      }
      print('9  subscription (owner), then logOut', logOut.ms, `logOut ${answer(logOut, { message: false })}; ${text}`);
      await connection.close();
    },
  },
  {
    n: 10,
    async run() {
      const { token } = await ownerA();
      const result = await gql('{ me { emial } }', {}, token);
      const message = firstError(result)?.message ?? '';
      print(
        '10 field suggestion { me { emial } }',
        result.ms,
        `${answer(result)}; ${/did you mean/i.test(message) ? 'SUGGESTS (Did you mean)' : 'no suggestion'}`,
      );
    },
  },
  {
    n: 11,
    async run() {
      const { token } = await ownerA();
      const bot = await botA();
      let result = await gql(SEND_MESSAGE, { i: { botId: bot.id, text: 'a\u0000b' } }, token);
      print('11 sendMessage text "a\\u0000b"', result.ms, answer(result));
      result = await gql(CREATE_BOT, { i: { name: 'nul\u0000bot' } }, token);
      print('11 createBot name "nul\\u0000bot"', result.ms, answer(result));
    },
  },
  {
    n: 12,
    async run() {
      const sent = '<script>alert(1)</script>';
      const result = await gql('{ __typename }', {}, undefined, { 'x-request-id': sent });
      const back = result.headers?.get('x-request-id');
      print(
        '12 x-request-id: <script>alert(1)</script>',
        result.ms,
        `${answer(result)}; ${back === sent ? 'ECHOED back as sent' : `replaced by ${back ?? '(no header)'}`}`,
      );
    },
  },
  {
    n: 13,
    async run() {
      const refusedEmails = [];
      for (const [label, password] of [
        ['"        " (8 spaces)', '        '],
        ['"12345678"', '12345678'],
      ]) {
        const email = replayEmail('weak');
        refusedEmails.push(email);
        const result = await gql(SIGN_UP, { i: { email, password } });
        const token = result.json?.data?.signUp?.token;
        if (token) created.owners.push({ email, token });
        print(
          `13 signUp password ${label}`,
          result.ms,
          token ? `ACCOUNT CREATED (HTTP ${result.status})` : answer(result),
        );
      }
      const email = replayEmail('twice');
      const first = await gql(SIGN_UP, { i: { email, password: strongPassword() } });
      if (first.json?.data?.signUp) created.owners.push({ email, token: first.json.data.signUp.token });
      const second = await gql(SIGN_UP, { i: { email, password: strongPassword() } });
      print(
        '13 signUp twice with one e-mail: 2nd answer',
        second.ms,
        second.json?.data?.signUp ? 'SECOND ACCOUNT CREATED' : answer(second),
      );
      const rows = await dbScalar("select count(*) from users where email in (:'p1', :'p2')", refusedEmails);
      if (rows !== undefined) print('13 … user rows for the weak passwords (db)', undefined, rows);
    },
  },
  {
    n: 14,
    async run() {
      const { token } = await ownerA();
      const bot = await botA();
      const seen = [];
      const server = http.createServer((req, res) => {
        seen.push(req.url);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('top secret: the vault code is 4711\n');
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address();
      try {
        const url = `http://[::ffff:7f00:1]:${port}/secret.txt`;
        const result = await sourceAttack(token, () =>
          gql(CREATE_SOURCE, { i: { botId: bot.id, kind: 'URL', title: 'Secret', url } }, token),
        );
        const search = await gql(
          'query($b: ID!) { search(botId: $b, query: "top secret vault code", limit: 5) { content } }',
          { b: bot.id },
          token,
        );
        const leaked = (search.json?.data?.search ?? []).some((hit) => hit.content.includes('top secret'));
        print(
          `14 URL source http://[::ffff:7f00:1]:${port}/…`,
          result.ms,
          `${result.text}; loopback server saw ${seen.length} request(s)`,
          leaked ? 'the secret is SEARCHABLE' : 'secret not in search',
        );
      } finally {
        server.closeAllConnections?.();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  },
  {
    n: 15,
    async run() {
      const result = await request('/health/db');
      print(
        '15 GET /health/db',
        result.ms,
        result.status ? `HTTP ${result.status} ${clip(result.text, 200)}` : answer(result),
      );
    },
  },
];

const attacks = [
  ...issue5Attacks,
  ...oneClientAttacks({
    base: BASE,
    print,
    summary,
    answer,
    clip,
    must,
    control,
    ops: { SIGN_UP, CREATE_BOT, CREATE_SOURCE, SOURCE, START_WIDGET, SEND_MESSAGE },
    options: {
      pid: numbers[0],
      count: numbers[1],
      settle: numbers[2],
      duration: numbers[3],
      redis: args.redis,
      db: args.db,
      pgAdmin: args['pg-admin'],
    },
  }),
];

// ---------------------------------------------------------------------------------------

async function main() {
  // 16-25 are hostile to the instance (one may kill the api, one cuts its database): only when named.
  const selected = attacks.filter((attack) => (ONLY ? ONLY.has(attack.n) : attack.n <= 15));
  console.log(`Parley attack replay against ${BASE} (Node ${process.version}, ${new Date().toISOString()})`);
  const health = await request('/health', { timeoutMs: 5000 });
  if (health.status !== 200) {
    console.log(`GET /health: ${answer(health)}; is the api running?`);
    if (!ONLY || [...ONLY].some((n) => n !== 15)) process.exit(1);
  }
  print('attack', undefined, 'answer', 'meanwhile');
  // Queue the READY sources of attacks 6 and 7 before the slow ingestion attacks.
  if (selected.some((attack) => [6, 7].includes(attack.n))) {
    try {
      await botB();
    } catch (error) {
      console.log(`set-up failed: ${error.message}`);
      process.exit(1);
    }
  }
  for (const attack of selected) {
    try {
      await attack.run();
    } catch (error) {
      failures += 1;
      print(`${attack.n}  (attack could not run)`, undefined, clip(error.message, 160));
    }
  }
  // Leave nothing behind that a bot owner would see: the bots go with their sources and
  // conversations. The accounts stay (there is no mutation to delete one).
  const deleted = await Promise.all(
    created.bots.map((bot) => gql('mutation($id: ID!) { deleteBot(id: $id) }', { id: bot.id }, bot.token)),
  );
  const deletedCount = deleted.filter((response) => response.json?.data?.deleteBot).length;
  if (created.bots.length) console.log(`clean-up: deleted ${deletedCount} of ${created.bots.length} bots`);
  if (created.owners.length) {
    console.log(`accounts left behind: ${created.owners.map((owner) => owner.email).join(', ')}`);
  }
  process.exit(failures ? 1 : 0);
}

await main();
