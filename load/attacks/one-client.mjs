// Attacks 16–25: the rows 1–10 of issue 15, "one hostile client must not take Parley down".
// Each is one client, from one address (or a few), against everyone else; each prints what
// it sent, how long that took, what the server answered, and what a bystander saw meanwhile
// (another address's requests, /health, the api's memory, Redis' memory), then one
// `SUMMARY <n>: …` line that campaign.mjs puts in its table.
//
// They are meant for a throwaway instance (campaign.mjs starts one per row): row 2 may kill
// the api, row 8 fills its Redis to maxmemory and restarts its worker, row 9 cuts its
// database for 15 s. Sources of requests are loopback addresses (127.0.0.x, bound with
// `localAddress`), so the api must listen on this machine's 127.0.0.1. See README.md.

import { randomBytes, randomUUID } from 'node:crypto';
import {
  bump,
  connectRedis,
  gqlFrom,
  httpRequest,
  mb,
  metricsMemory,
  now,
  percentile,
  processAlive,
  processRss,
  psql,
  rawSocket,
  RedisReplyError,
  seconds,
  signedMb,
  sleep,
  sqlIdentifier,
  sqlLiteral,
  tallyText,
  webSocketUpgrade,
} from './tools.mjs';

/** Who sends what. Each row runs on its own instance, so rows may reuse addresses. */
const ADDRESS = {
  /** The hostile client. */
  attacker: '127.0.0.1',
  /** Everyone else: the person whose experience each row measures. */
  victim: '127.0.0.2',
  /** Accounts and bots the attacks need, made from an address no budget of the attack shares. */
  setup: '127.0.0.20',
};

const LOG_IN = 'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }';
const SEARCH = 'query($b: ID!, $q: String!, $l: Int) { search(botId: $b, query: $q, limit: $l) { sourceId score } }';
const STATUSES = 'query($ids: [ID!]!) { messageStatuses(ids: $ids) { messageId } }';

const randomHex = (bytes) => randomBytes(bytes).toString('hex');
const ms = (value) => (value === undefined ? '?' : `${Math.round(value)} ms`);

/** Which counter refused a request, from its message (the wording names it). */
function refusedBy(message = '') {
  if (/server|instance/i.test(message)) return 'global';
  if (/e-?mail/i.test(message)) return 'e-mail';
  if (/sign-in|log-?in/i.test(message)) return 'log-ins per address';
  if (/address/i.test(message)) return 'address';
  if (/account|visitor/i.test(message)) return 'account';
  if (/bot/i.test(message)) return 'bot';
  return message.slice(0, 40);
}

/**
 * @param ctx what replay.mjs lends: `base` (the api's URL), `print`, `summary`, `answer`,
 *   `clip`, `must`, `ops` (its GraphQL operations), `control` (asks the campaign, or the person
 *   at the terminal, to act on the instance), and `options` (pid, redis, db, pgAdmin, count,
 *   settle, duration).
 */
export function oneClientAttacks(ctx) {
  const { base, print, summary, answer, must, ops, options } = ctx;
  const gql = (address, query, variables, token, extra) => gqlFrom(base, address, query, variables, token, extra);
  const durationMs = (fallbackSeconds) => (options.duration ?? fallbackSeconds) * 1000;

  /** "HTTP 200 ok", "HTTP 429 RATE_LIMITED (address)", "no HTTP answer (ECONNRESET)". */
  const label = (response) => {
    const error = response.json?.errors?.[0];
    if (error?.extensions?.code === 'RATE_LIMITED')
      return `HTTP ${response.status} RATE_LIMITED (${refusedBy(error.message)})`;
    const text = answer(response, { message: false });
    return response.headers?.get('retry-after') && !text.startsWith('no HTTP') ? `${text} + Retry-After` : text;
  };

  async function signUp(address, tag) {
    const email = `replay-${tag}-${randomHex(6)}@example.com`;
    const password = `Replay-${randomBytes(12).toString('base64url')}-pass`;
    const response = await gql(address, ops.SIGN_UP, { i: { email, password } });
    const payload = must(response, (d) => d.signUp, `sign-up of ${email}`);
    return { email, password, token: payload.token };
  }

  async function createBot(token, name) {
    return must(await gql(ADDRESS.setup, ops.CREATE_BOT, { i: { name } }, token), (d) => d.createBot, 'createBot');
  }

  /** An owner with one bot, made from the set-up address. */
  async function ownerWithBot(tag) {
    const owner = await signUp(ADDRESS.setup, tag);
    return { owner, bot: await createBot(owner.token, `Replay ${tag}`) };
  }

  /** Runs `send` from `concurrency` loops until `until()` is true; resolves when all stopped. */
  async function loops(concurrency, until, send) {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (!until()) await send(next++);
      }),
    );
  }

  /** `total` calls of `send(i)`, at most `concurrency` at a time. */
  async function pool(total, concurrency, send) {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, total) }, async () => {
        while (next < total) await send(next++);
      }),
    );
  }

  const bufferHealth = async () => {
    const response = await httpRequest(base, '/health/buffer', { timeoutMs: 10_000 });
    return { ...(response.json ?? {}), httpStatus: response.status };
  };

  /** Waits until the buffer holds nothing (pending and claimed); the time it took, or undefined. */
  async function waitDrained(limitMs = 120_000) {
    const started = now();
    while (now() - started < limitMs) {
      const health = await bufferHealth();
      if (health.enabled === false) return 0;
      if (health.depth === 0 && (health.inFlightIntents ?? 0) === 0) return now() - started;
      await sleep(250);
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------

  /** Row 1: header-only requests hold every place of admission control. */
  async function slowHeaders() {
    const count = 4100;
    const holdMs = durationMs(30);
    const { hostname, port } = new URL(base);
    const victim = () => gql(ADDRESS.victim, '{ __typename }', undefined, undefined, { timeoutMs: 10_000 });
    const alone = await victim();
    print('16 victim { __typename } from 127.0.0.2, alone', alone.ms, answer(alone));

    const head = Buffer.from(
      `POST /graphql HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
        'Content-Length: 100000\r\n\r\n',
    );
    const sockets = [];
    const answered = {};
    let serverClosed = 0;
    let closing = false;
    const started = now();
    for (let opened = 0; opened < count; opened += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, count - opened) }, () =>
          rawSocket(hostname, Number(port), ADDRESS.attacker),
        ),
      );
      for (const socket of batch) {
        if (!socket) continue;
        sockets.push(socket);
        socket.on('error', () => undefined);
        socket.once('data', (data) => bump(answered, String(data).split('\r\n')[0].replace('HTTP/1.1', 'HTTP')));
        socket.once('close', () => {
          if (!closing) serverClosed += 1;
        });
        socket.write(head);
      }
    }
    print(
      `16 ${count} sockets from 127.0.0.1, headers only`,
      now() - started,
      `${sockets.length} connected; answered: ${tallyText(answered)}`,
    );

    const victimAnswers = {};
    const healthAnswers = {};
    const victimMs = [];
    await sleep(1000);
    while (now() - started < holdMs) {
      const [query, health] = await Promise.all([
        victim(),
        httpRequest(base, '/health', { localAddress: ADDRESS.victim, timeoutMs: 10_000 }),
      ]);
      bump(victimAnswers, label(query));
      bump(healthAnswers, `HTTP ${health.status}`);
      victimMs.push(query.ms);
      await sleep(2000);
    }
    const stillOpen = sockets.length - serverClosed;
    print(
      `16 victim from 127.0.0.2 during ${seconds(holdMs)}`,
      percentile(victimMs, 50),
      tallyText(victimAnswers),
      `/health ${tallyText(healthAnswers)}`,
    );
    print(
      `16 sockets the server closed in ${seconds(now() - started)}`,
      undefined,
      `${serverClosed} of ${sockets.length} (${stillOpen} still open); answered later: ${tallyText(answered)}`,
    );
    closing = true;
    for (const socket of sockets) socket.destroy();
    await sleep(1000);
    const after = await victim();
    print('16 victim after the sockets closed', after.ms, answer(after));
    summary(
      16,
      `victim at 127.0.0.2 got ${tallyText(victimAnswers)} (alone: ${label(alone)}); /health ${tallyText(healthAnswers)}; ` +
        `server closed ${serverClosed} of ${sockets.length} sockets in ${seconds(holdMs)}; after they closed: ${label(after)}`,
    );
  }

  /** Row 2: distinct 4 MB publicKeys become rate-limit keys, in memory or in Redis. */
  async function hugePublicKeys() {
    const count = options.count ?? 160;
    const settleMs = (options.settle ?? 0) * 1000;
    // In rollback mode the api does not use Redis: its memory would say nothing.
    const rollback = (await bufferHealth()).enabled === false;
    const redis = options.redis && !rollback ? await connectRedis(options.redis) : undefined;
    const memory = async () => {
      const metrics = await metricsMemory(base);
      return {
        rss: options.pid ? processRss(options.pid) : metrics.rss,
        heap: metrics.heap,
        redis: redis ? await redis.usedMemory().catch(() => undefined) : undefined,
      };
    };
    const memoryText = (m) =>
      `api RSS ${mb(m.rss)}, heap used ${mb(m.heap)}${redis ? `, Redis used_memory ${mb(m.redis)}` : ''}`;
    const first = await memory();
    print('17 before', undefined, memoryText(first));

    const filler = 'k'.repeat(4 * 1024 * 1024 - 40);
    const answers = {};
    let sent = 0;
    let diedAfter;
    let silentInRow = 0;
    let last = first;
    const started = now();
    for (let i = 1; i <= count; i += 1) {
      const body = `{"query":${JSON.stringify(ops.START_WIDGET)},"variables":{"k":"pk_${randomHex(12)}${filler}"}}`;
      const response = await httpRequest(base, '/graphql', {
        method: 'POST',
        localAddress: ADDRESS.attacker,
        headers: { 'content-type': 'application/json' },
        body,
        timeoutMs: 60_000,
      });
      sent = i;
      bump(answers, label(response));
      if (response.status === 0) {
        silentInRow += 1;
        if ((options.pid && !processAlive(options.pid)) || silentInRow >= 2) {
          diedAfter = i;
          break;
        }
      } else {
        silentInRow = 0;
      }
      if (i % 50 === 0) {
        last = await memory();
        print(`17 after ${i} startWidgetSession(4 MB key)`, now() - started, memoryText(last));
      }
    }
    if (sent % 50 !== 0 && !diedAfter) {
      last = await memory();
      print(`17 after ${sent} startWidgetSession(4 MB key)`, now() - started, memoryText(last));
    }
    print('17 answers', undefined, tallyText(answers));
    let settled;
    if (settleMs && !diedAfter) {
      await sleep(settleMs);
      settled = await memory();
      print(`17 ${seconds(settleMs)} later, idle`, undefined, memoryText(settled));
    }
    const alive = options.pid ? processAlive(options.pid) : (await httpRequest(base, '/health')).status === 200;
    if (diedAfter || !alive) print('17 the api', undefined, `STOPPED ANSWERING after ${diedAfter ?? sent} requests`);
    const redisGrowth = redis && last.redis !== undefined ? last.redis - first.redis : undefined;
    redis?.close();
    summary(
      17,
      `${diedAfter ?? sent} × 4 MB publicKey (${tallyText(answers)}); api RSS ${mb(first.rss)} → ${mb(last.rss)}` +
        (settled ? `, ${mb(settled.rss)} after ${seconds(settleMs)} idle` : '') +
        (redisGrowth !== undefined
          ? `; Redis ${signedMb(redisGrowth)} (${signedMb((redisGrowth * 50) / sent)} per 50)`
          : '') +
        (diedAfter || !alive ? `; the api DIED after ${diedAfter ?? sent} requests` : '; the api stayed up'),
    );
  }

  /** Row 3: invalid sign-ups from three addresses spend the counter widget chat needs. */
  async function sharedGlobalCounter() {
    const { bot } = await ownerWithBot('row3');
    const visitor = must(
      await gql(ADDRESS.victim, ops.START_WIDGET, { k: bot.publicKey }),
      (d) => d.startWidgetSession.token,
      'startWidgetSession',
    );
    const flood = {};
    const floodStarted = now();
    await Promise.all(
      ['127.0.0.3', '127.0.0.4', '127.0.0.5'].map(async (address) => {
        for (let i = 0; i < 20; i += 1) {
          bump(flood, label(await gql(address, ops.SIGN_UP, { i: { email: `not-an-email-${i}`, password: 'x' } })));
        }
      }),
    );
    print('18 20 invalid signUps from each of 127.0.0.3-5', now() - floodStarted, tallyText(flood));

    const newcomer = await gql('127.0.0.6', ops.START_WIDGET, { k: bot.publicKey });
    print('18 a new visitor from 127.0.0.6: startWidgetSession', newcomer.ms, label(newcomer));
    const windowMs = durationMs(40);
    const refusals = {};
    let tries = 0;
    let admitted = 0;
    let conversationId;
    const started = now();
    while (now() - started < windowMs) {
      const response = await gql(
        ADDRESS.victim,
        ops.SEND_MESSAGE,
        { i: { botId: bot.id, conversationId, text: 'Do you ship to Norway?' } },
        visitor,
      );
      tries += 1;
      const sent = response.json?.data?.sendMessage;
      if (sent) {
        admitted += 1;
        conversationId = sent.conversationId;
      } else {
        bump(refusals, label(response));
      }
      // One message every 2.5 s: within the victim address's own limit (20 a minute here).
      await sleep(2500);
    }
    print(
      `18 widget chat from 127.0.0.2 for ${seconds(windowMs)}`,
      undefined,
      `${admitted} of ${tries} admitted; refused: ${tallyText(refusals)}`,
    );
    summary(
      18,
      `60 invalid signUps from 3 addresses (${tallyText(flood)}); widget chat from a 4th address: ${admitted} of ${tries} ` +
        `admitted in ${seconds(windowMs)} (refused: ${tallyText(refusals)}); a new visitor's startWidgetSession: ${label(newcomer)}`,
    );
  }

  /** Row 4: wrong logIns for someone's e-mail lock that person out everywhere. */
  async function loginLockout() {
    const victim = await signUp(ADDRESS.victim, 'row4');
    const answers = {};
    // A password longer than any account's costs the server no hash: a cheap attack.
    const wrong = 'x'.repeat(600);
    const started = now();
    await pool(110, 10, async () => {
      bump(answers, label(await gql(ADDRESS.attacker, LOG_IN, { e: victim.email, p: wrong })));
    });
    const attackMs = now() - started;
    print("19 110 wrong logIns for the victim's e-mail from 127.0.0.1", attackMs, tallyText(answers));
    const own = await gql(ADDRESS.victim, LOG_IN, { e: victim.email, p: victim.password });
    const retryAfter = own.headers?.get('retry-after');
    print(
      '19 the victim logs in from 127.0.0.2 (right password)',
      own.ms,
      `${answer(own)}${retryAfter ? `, Retry-After ${retryAfter}` : ''}`,
    );
    summary(
      19,
      `110 wrong logIns from 127.0.0.1 in ${seconds(attackMs)} (${tallyText(answers)}); the owner's correct logIn from ` +
        `127.0.0.2: ${label(own)}${retryAfter ? ` (Retry-After ${retryAfter} s)` : ''}`,
    );
  }

  /** Row 5: a burst of password hashes starves everyone's log-ins and file reads. */
  async function hashingBurst() {
    const victim = await signUp(ADDRESS.victim, 'row5');
    const logIn = () => gql(ADDRESS.victim, LOG_IN, { e: victim.email, p: victim.password }, undefined);
    const widget = () => httpRequest(base, '/widget.js', { localAddress: ADDRESS.victim, timeoutMs: 120_000 });
    const aloneLogIns = [await logIn(), await logIn()];
    const aloneWidget = [];
    for (let i = 0; i < 5; i += 1) aloneWidget.push((await widget()).ms);
    const aloneLogInMs = percentile(
      aloneLogIns.map((r) => r.ms),
      50,
    );
    print('20 alone: correct logIn from 127.0.0.2', aloneLogInMs, label(aloneLogIns[1]));
    print('20 alone: GET /widget.js (p50 of 5)', percentile(aloneWidget, 50), `HTTP ${(await widget()).status}`);

    const answers = {};
    const tag = randomHex(4);
    // An unknown e-mail is checked against one dummy hash, made on first use: made now, so
    // that the burst's hashes are queued at once rather than behind that one.
    await gql(ADDRESS.attacker, LOG_IN, { e: `replay-warm-up-${tag}@example.com`, p: 'Wrong-password-0' });
    let burstDone = false;
    const started = now();
    const burst = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        gql(ADDRESS.attacker, LOG_IN, { e: `replay-guess-${tag}-${i}@example.com`, p: `Wrong-password-${i}` }).then(
          (response) => bump(answers, label(response)),
        ),
      ),
    ).then(() => {
      burstDone = true;
      return now() - started;
    });
    // Once the burst has reached the server: the victim arrives behind it, as a person would.
    await sleep(1000);
    const victimLogIn = logIn();
    const widgetMs = [];
    const widgetAnswers = {};
    while (!burstDone || widgetMs.length === 0) {
      const response = await widget();
      widgetMs.push(response.ms);
      bump(widgetAnswers, `HTTP ${response.status}`);
      await sleep(50);
    }
    const [burstMs, own] = await Promise.all([burst, victimLogIn]);
    print('20 40 concurrent wrong logIns from 127.0.0.1', burstMs, tallyText(answers));
    print('20 meanwhile: correct logIn from 127.0.0.2', own.ms, label(own));
    print(
      `20 meanwhile: GET /widget.js ×${widgetMs.length}`,
      percentile(widgetMs, 50),
      `p50; max ${ms(Math.max(...widgetMs))}; ${tallyText(widgetAnswers)}`,
    );
    summary(
      20,
      `40 concurrent wrong logIns from 127.0.0.1 (${tallyText(answers)}, done in ${seconds(burstMs)}): a correct logIn ` +
        `from 127.0.0.2 took ${seconds(own.ms)} (${label(own)}; alone ${seconds(aloneLogInMs)}), GET /widget.js p50 ` +
        `${ms(percentile(widgetMs, 50))}, max ${ms(Math.max(...widgetMs))} (alone ${ms(percentile(aloneWidget, 50))})`,
    );
  }

  /** Row 6: huge or deep variables cost the api seconds of CPU before any limit looks at them. */
  async function hugeVariables() {
    const { owner } = await ownerWithBot('row6');
    const variantMs = durationMs(10);
    // 30 s bounds each answer: a variant whose requests take longer shows as "no answer within".
    const victim = () => gql(ADDRESS.victim, '{ __typename }', undefined, undefined, { timeoutMs: 30_000 });
    const aloneMs = [];
    for (let i = 0; i < 20; i += 1) aloneMs.push((await victim()).ms);
    const aloneHealth = [];
    for (let i = 0; i < 5; i += 1) aloneHealth.push((await httpRequest(base, '/health')).ms);
    print(
      '21 alone: victim { __typename } p50 (20)',
      percentile(aloneMs, 50),
      `/health max ${ms(Math.max(...aloneHealth))}`,
    );

    const keys = (n) => Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',');
    const variants = [
      [
        'messageStatuses(ids) 1,200,000 ids',
        () => `{"query":${JSON.stringify(STATUSES)},"variables":{"ids":[${'"1",'.repeat(1_199_999)}"1"]}}`,
      ],
      [
        'ids nested 2,000,000 deep',
        () =>
          `{"query":${JSON.stringify(STATUSES)},"variables":{"ids":${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}}}`,
      ],
      [
        'sendMessage input of 300,000 keys',
        () => `{"query":${JSON.stringify(ops.SEND_MESSAGE)},"variables":{"i":{${keys(300_000)}}}}`,
      ],
      ['300,000 undeclared variables', () => `{"query":"{ __typename }","variables":{${keys(300_000)}}}`],
    ];
    const parts = [];
    for (const [name, build] of variants) {
      const body = Buffer.from(build());
      const attackAnswers = {};
      const attackMs = [];
      const victimMs = [];
      const victimAnswers = {};
      const healthMs = [];
      let healthUnanswered = 0;
      const end = now() + variantMs;
      const over = () => now() >= end;
      const healthText = () =>
        `/health max ${ms(Math.max(...healthMs))}` +
        (healthUnanswered ? `, ${healthUnanswered} of ${healthMs.length} unanswered in 30 s` : '');
      await Promise.all([
        loops(3, over, async () => {
          const response = await httpRequest(base, '/graphql', {
            method: 'POST',
            localAddress: ADDRESS.attacker,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
            body,
            timeoutMs: 30_000,
          });
          attackMs.push(response.ms);
          bump(attackAnswers, label(response));
        }),
        loops(1, over, async () => {
          const response = await victim();
          victimMs.push(response.ms);
          bump(victimAnswers, label(response));
          await sleep(50);
        }),
        loops(1, over, async () => {
          const health = await httpRequest(base, '/health', { localAddress: ADDRESS.victim, timeoutMs: 30_000 });
          healthMs.push(health.ms);
          if (health.status !== 200) healthUnanswered += 1;
          await sleep(100);
        }),
      ]);
      print(
        `21 ${name} (${mb(body.length)}), 3 connections`,
        percentile(attackMs, 50),
        `p50 of ${attackMs.length}: ${tallyText(attackAnswers)}`,
      );
      print(
        '21 … meanwhile the victim { __typename }',
        percentile(victimMs, 50),
        `p50 of ${victimMs.length} (p95 ${ms(percentile(victimMs, 95))}; ${tallyText(victimAnswers)})`,
        healthText(),
      );
      const victimFailed = Object.keys(victimAnswers).some((text) => text !== 'HTTP 200 ok');
      parts.push(
        `${name}: victim p50 ${ms(percentile(victimMs, 50))}${victimFailed ? ` (${tallyText(victimAnswers)})` : ''}, ` +
          `${healthText()} (attack ${tallyText(attackAnswers)}, ${ms(percentile(attackMs, 50))} each)`,
      );
    }
    summary(21, `victim p50 alone ${ms(percentile(aloneMs, 50))}; ${parts.join('; ')}`);
  }

  /** Row 7: caller-sized, never-limited searches fill the buffer's Redis with cached results. */
  async function searchCacheGrowth() {
    if (!options.redis) throw new Error("attack 22 needs --redis (the instance's Redis URL) to measure it");
    const redis = await connectRedis(options.redis);
    try {
      const { owner, bot } = await ownerWithBot('row7');
      const words = VOCABULARY;
      const pick = () => words[Math.floor(Math.random() * words.length)];
      const paragraph = () =>
        Array.from({ length: 12 }, () => `${Array.from({ length: 8 }, pick).join(' ')}.`).join(' ');
      const text = Array.from({ length: 120 }, paragraph).join('\n\n');
      const created = await gql(
        ADDRESS.setup,
        ops.CREATE_SOURCE,
        { i: { botId: bot.id, kind: 'TEXT', title: 'Handbook', text } },
        owner.token,
      );
      const sourceId = must(created, (d) => d.createSource.id, 'createSource');
      const readyStarted = now();
      let status;
      while (now() - readyStarted < 120_000) {
        status = (await gql(ADDRESS.setup, ops.SOURCE, { id: sourceId }, owner.token)).json?.data?.source;
        if (status?.status === 'READY' || status?.status === 'FAILED') break;
        await sleep(250);
      }
      print(
        '22 set-up: a TEXT source of 120 paragraphs',
        now() - readyStarted,
        `${status?.status} ${status?.chunkCount ?? ''} chunks`,
      );
      if (status?.status !== 'READY') throw new Error('the source did not become READY (is the worker running?)');

      const counts = async () => ({
        used: await redis.usedMemory(),
        keys: Number(await redis.command('DBSIZE')),
        vector: await redis.countKeys('*vector:{*'),
        bot: await redis.countKeys('*bot:{*'),
      });
      const before = await counts();
      const runMs = durationMs(20);
      const answers = {};
      let sent = 0;
      let end = now() + runMs;
      await loops(
        4,
        () => now() >= end,
        async (i) => {
          const query = `${Array.from({ length: 6 }, pick).join(' ')} ${i}`;
          bump(answers, label(await gql(ADDRESS.attacker, SEARCH, { b: bot.id, q: query, l: 50 }, owner.token)));
          sent += 1;
        },
      );
      const afterSearch = await counts();
      const vectorKey = await redis.firstKey('*vector:{*');
      const ttl = vectorKey ? Number(await redis.command('TTL', vectorKey)) : undefined;
      const grew = afterSearch.used - before.used;
      print(
        `22 distinct search(limit: 50), 4 connections, ${seconds(runMs)}`,
        undefined,
        `${sent} sent (${tallyText(answers)})`,
      );
      print(
        '22 … Redis',
        undefined,
        `used_memory ${mb(before.used)} → ${mb(afterSearch.used)} (${signedMb(grew)}, ${(grew / 1024 / 1024 / (runMs / 1000)).toFixed(1)} MB/s); ` +
          `vector keys +${afterSearch.vector - before.vector}${ttl !== undefined ? `, TTL ${ttl} s` : ''}`,
      );

      const randomMs = durationMs(8);
      const randomAnswers = {};
      let randomSent = 0;
      end = now() + randomMs;
      await loops(
        4,
        () => now() >= end,
        async () => {
          bump(
            randomAnswers,
            label(await gql(ADDRESS.attacker, SEARCH, { b: randomUUID(), q: 'refund', l: 5 }, owner.token)),
          );
          randomSent += 1;
        },
      );
      const afterRandom = await counts();
      print(
        `22 search with random bot ids, 4 connections, ${seconds(randomMs)}`,
        undefined,
        `${randomSent} sent (${tallyText(randomAnswers)}); Redis keys +${afterRandom.keys - afterSearch.keys} ` +
          `(bot keys +${afterRandom.bot - afterSearch.bot}), used_memory ${signedMb(afterRandom.used - afterSearch.used)}`,
      );
      summary(
        22,
        `${sent} distinct search(limit: 50) in ${seconds(runMs)} (${tallyText(answers)}): Redis ${signedMb(grew)} ` +
          `(${(grew / 1024 / 1024 / (runMs / 1000)).toFixed(1)} MB/s), +${afterSearch.vector - before.vector} cached results` +
          `${ttl !== undefined ? ` kept ${ttl} s` : ''}; ${randomSent} searches with random bot ids in ${seconds(randomMs)}: ` +
          `+${afterRandom.keys - afterSearch.keys} keys`,
      );
    } finally {
      redis.close();
    }
  }

  /** Row 8: a Redis at maxmemory (noeviction) must not stall the buffer for good. */
  async function bufferUnderOom() {
    if (!options.redis) throw new Error("attack 23 needs --redis (the instance's Redis URL)");
    const redis = await connectRedis(options.redis);
    const fillerKeys = [];
    try {
      const { owner, bot } = await ownerWithBot('row8');
      await ctx.control('worker-stop', 'stop the worker (SIGTERM its process)');
      const total = options.count ?? 2500;
      const answers = {};
      const acked = [];
      const started = now();
      await pool(total, 20, async (i) => {
        const response = await gql(
          ADDRESS.attacker,
          ops.SEND_MESSAGE,
          { i: { botId: bot.id, text: `Queued message ${i}`, clientMessageId: `oom-${i}` } },
          owner.token,
        );
        bump(answers, label(response));
        if (response.json?.data?.sendMessage) acked.push(i);
      });
      const queued = await bufferHealth();
      print(
        `23 ${total} sends with the worker stopped`,
        now() - started,
        `${tallyText(answers)}; buffer depth ${queued.depth}`,
      );

      // Fill Redis to maxmemory with filler keys of our own: the buffer's keys stay as they are.
      const usedBefore = await redis.usedMemory();
      await redis.command('CONFIG', 'SET', 'maxmemory', String(usedBefore + 2 * 1024 * 1024));
      const value = 'x'.repeat(16 * 1024);
      let refused;
      for (let i = 0; i < 20_000 && !refused; i += 1) {
        const key = `replay:filler:${i}`;
        const reply = await redis.command('SET', key, value);
        if (reply instanceof RedisReplyError) refused = reply;
        else fillerKeys.push(key);
      }
      // Full means full: a refused SET frees its own query buffer, and any expiring key frees a
      // little more, which would let the next small write through. A Redis that sends keep
      // filling stays at its limit; so does this one, 1 MB below what it holds.
      const used = await redis.usedMemory();
      await redis.command('CONFIG', 'SET', 'maxmemory', String(used - 1024 * 1024));
      const probe = await redis.command('SET', 'replay:probe', '1');
      print(
        '23 Redis filled (maxmemory-policy noeviction)',
        undefined,
        `used_memory ${mb(used)}, maxmemory 1 MB below; a small SET now: ` +
          `${probe instanceof RedisReplyError ? `"${probe.message}"` : 'ACCEPTED'}`,
      );
      const whileFull = {};
      for (let i = 0; i < 5; i += 1) {
        const response = await gql(
          ADDRESS.attacker,
          ops.SEND_MESSAGE,
          { i: { botId: bot.id, text: `Sent while full ${i}`, clientMessageId: `full-${i}` } },
          owner.token,
        );
        bump(whileFull, label(response));
        if (response.json?.data?.sendMessage) acked.push(`full-${i}`);
      }
      print('23 5 sends while Redis is full', undefined, tallyText(whileFull));

      await ctx.control('worker-start', 'start the worker');
      const observeMs = durationMs(30);
      const observeStarted = now();
      const statuses = {};
      let sample;
      let lastPrinted = -Infinity;
      while (now() - observeStarted < observeMs) {
        sample = await bufferHealth();
        bump(statuses, `${sample.status}`);
        if (now() - lastPrinted >= 9000) {
          lastPrinted = now();
          print(
            `23 /health/buffer ${seconds(now() - observeStarted)} after the worker started`,
            undefined,
            `HTTP ${sample.httpStatus} ${sample.status}: depth ${sample.depth}, in flight ${sample.inFlightIntents}, ` +
              `oldest ${seconds(sample.oldestAgeMillis ?? 0)}${sample.reasons ? `; ${sample.reasons.join(' ')}` : ''}`,
          );
        }
        await sleep(1000);
      }
      const stuck = (sample.depth ?? 0) + (sample.inFlightIntents ?? 0);
      print(
        `23 after ${seconds(observeMs)} with the worker running`,
        undefined,
        `${stuck} intents still queued, oldest ${seconds(sample.oldestAgeMillis ?? 0)}; /health/buffer said ${tallyText(statuses)}` +
          `${sample.reasons ? ` (${sample.reasons.join(' ')})` : ''}`,
      );

      await redis.command('CONFIG', 'SET', 'maxmemory', '0');
      const drainMs = await waitDrained();
      const stored = options.db
        ? await psql(
            options.db,
            `SELECT count(*) FROM messages WHERE bot_id = ${sqlLiteral(bot.id)} AND role = 'USER'`,
          ).catch((error) => `? (${error.message})`)
        : undefined;
      print(
        '23 maxmemory raised (0: none)',
        drainMs,
        `${drainMs === undefined ? 'NOT drained in 120 s' : 'drained'}${stored === undefined ? '' : `; ${stored} user messages stored, ${acked.length} acknowledged`}`,
      );
      summary(
        23,
        `${total} sends with the worker stopped (${tallyText(answers)}); Redis filled to maxmemory, 5 sends then: ` +
          `${tallyText(whileFull)} (fallbacks ${sample.fallbacks ?? '?'}); worker started: after ` +
          `${seconds(observeMs)} ${stuck} still queued (oldest ${seconds(sample.oldestAgeMillis ?? 0)}), /health/buffer ` +
          `${tallyText(statuses)}; maxmemory raised: ${drainMs === undefined ? 'not drained in 120 s' : `drained in ${seconds(drainMs)}`}` +
          `${stored === undefined ? '' : `, stored ${stored} of ${acked.length}`}`,
      );
    } finally {
      await redis.command('CONFIG', 'SET', 'maxmemory', '0');
      fillerKeys.push('replay:probe');
      for (let i = 0; i < fillerKeys.length; i += 500) await redis.command('UNLINK', ...fillerKeys.slice(i, i + 500));
      redis.close();
    }
  }

  /** Row 9: a database that refuses connections must answer 503 + Retry-After, not a masked 500. */
  async function databaseCut() {
    if (!options.db) throw new Error("attack 24 needs --db (the instance's DATABASE_URL) to cut its database");
    const dbUrl = new URL(options.db);
    const dbName = decodeURIComponent(dbUrl.pathname.slice(1));
    const admin = options.pgAdmin ?? Object.assign(new URL(options.db), { pathname: '/postgres', search: '' }).href;
    const { owner, bot } = await ownerWithBot('row9');
    const cutMs = durationMs(15);
    const phases = { before: {}, cut: {}, after: {} };
    let phase = 'before';
    let stop = false;
    const acked = new Set();
    const senders = loops(
      8,
      () => stop,
      async (i) => {
        const sentIn = phase;
        const response = await gql(
          ADDRESS.attacker,
          ops.SEND_MESSAGE,
          { i: { botId: bot.id, text: `During the cut ${i}`, clientMessageId: `cut-${i}` } },
          owner.token,
          { timeoutMs: 30_000 },
        );
        bump(phases[sentIn], label(response));
        if (response.json?.data?.sendMessage) acked.add(i);
        await sleep(20);
      },
    );
    await sleep(3000);
    let terminated;
    let healthDb;
    try {
      phase = 'cut';
      terminated = await psql(
        admin,
        `ALTER DATABASE ${sqlIdentifier(dbName)} ALLOW_CONNECTIONS false;
         SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ${sqlLiteral(dbName)};`,
      );
      await sleep(cutMs / 2);
      healthDb = await httpRequest(base, '/health/db', { localAddress: ADDRESS.victim, timeoutMs: 10_000 });
      await sleep(cutMs / 2);
    } finally {
      await psql(admin, `ALTER DATABASE ${sqlIdentifier(dbName)} ALLOW_CONNECTIONS true`);
    }
    phase = 'after';
    await sleep(5000);
    stop = true;
    await senders;
    print('24 sends before the cut (3 s, 8 connections)', undefined, tallyText(phases.before));
    print(
      `24 sends while the database refuses connections (${seconds(cutMs)})`,
      undefined,
      tallyText(phases.cut),
      `${terminated} backends terminated; /health/db HTTP ${healthDb?.status}`,
    );
    print('24 sends in the 5 s after', undefined, tallyText(phases.after));
    const drainMs = await waitDrained();
    const stored = await psql(
      options.db,
      `SELECT count(*) FROM messages WHERE bot_id = ${sqlLiteral(bot.id)} AND role = 'USER'`,
    ).catch((error) => `? (${error.message})`);
    print(
      '24 after the drain',
      drainMs,
      `${stored} user messages stored for ${acked.size} acknowledged sends${drainMs === undefined ? ' (NOT drained in 120 s)' : ''}`,
    );
    const during = phases.cut;
    const count = (pattern) =>
      Object.entries(during)
        .filter(([text]) => pattern.test(text))
        .reduce((sum, [, n]) => sum + n, 0);
    summary(
      24,
      `database refused connections for ${seconds(cutMs)}: ${count(/^HTTP 200 INTERNAL_SERVER_ERROR/)} answers HTTP 200 ` +
        `INTERNAL_SERVER_ERROR, ${count(/^HTTP 503.*Retry-After/)} 503 + Retry-After, ${count(/^HTTP 200 ok/)} ok ` +
        `(all: ${tallyText(during)}); /health/db ${healthDb?.status}; stored ${stored} of ${acked.size} acknowledged`,
    );
  }

  /** Row 10: each IPv6 /128 is its own address, so one /64 holder has 2^64 allowances. */
  async function ipv6Prefix() {
    const { bot } = await ownerWithBot('row10');
    const group = () => randomBytes(2).toString('hex');
    const sameAddress = (prefix) => () => `${prefix}::1`;
    const sameSlash64 = (prefix) => () => `${prefix}::${group()}:${group()}:${group()}:${group()}`;
    const sessions = async (name, forwardedFor) => {
      const answers = {};
      let admitted = 0;
      await pool(210, 10, async () => {
        const response = await gql(ADDRESS.attacker, ops.START_WIDGET, { k: bot.publicKey }, undefined, {
          headers: { 'x-forwarded-for': forwardedFor() },
        });
        bump(answers, label(response));
        if (response.json?.data?.startWidgetSession) admitted += 1;
      });
      print(`25 210 startWidgetSession, ${name}`, undefined, `${admitted} admitted (${tallyText(answers)})`);
      return admitted;
    };
    const sockets = async (name, forwardedFor) => {
      const results = await Promise.all(
        Array.from({ length: 60 }, () =>
          webSocketUpgrade(base, { 'x-forwarded-for': forwardedFor() }, ADDRESS.attacker),
        ),
      );
      const refused = {};
      for (const result of results) if (!result.accepted) bump(refused, `HTTP ${result.status}`);
      const accepted = results.filter((result) => result.accepted);
      print(`25 60 WebSockets, ${name}`, undefined, `${accepted.length} accepted (refused: ${tallyText(refused)})`);
      return { count: accepted.length, close: () => accepted.forEach((result) => result.socket.destroy()) };
    };
    const oneAddress = await sessions('X-Forwarded-For one /128 (2001:db8:a::1)', sameAddress('2001:db8:a'));
    const onePrefix = await sessions('X-Forwarded-For 210 /128s of 2001:db8:b::/64', sameSlash64('2001:db8:b'));
    const oneAddressSockets = await sockets('one /128 (2001:db8:c::1)', sameAddress('2001:db8:c'));
    const onePrefixSockets = await sockets('60 /128s of 2001:db8:d::/64', sameSlash64('2001:db8:d'));
    oneAddressSockets.close();
    onePrefixSockets.close();
    summary(
      25,
      `through a trusted proxy: one /128 got ${oneAddress} of 210 startWidgetSession and ${oneAddressSockets.count} of 60 ` +
        `sockets; 210 /128s of one /64 got ${onePrefix} of 210 and ${onePrefixSockets.count} of 60 sockets`,
    );
  }

  return [
    { n: 16, run: slowHeaders },
    { n: 17, run: hugePublicKeys },
    { n: 18, run: sharedGlobalCounter },
    { n: 19, run: loginLockout },
    { n: 20, run: hashingBurst },
    { n: 21, run: hugeVariables },
    { n: 22, run: searchCacheGrowth },
    { n: 23, run: bufferUnderOom },
    { n: 24, run: databaseCut },
    { n: 25, run: ipv6Prefix },
  ];
}

/** Words of a shop's handbook: the source of attack 22 and its distinct queries. */
const VOCABULARY = `refund return shipping delivery parcel courier invoice receipt payment card voucher gift
discount coupon order basket checkout account password address warehouse stock size colour fabric
cotton wool leather shoe jacket shirt trousers dress scarf glove hat bag wallet watch ring necklace
bracelet earring battery charger cable adapter screen keyboard mouse laptop tablet phone camera lens
tripod speaker headphone microphone printer paper ink toner desk chair lamp sofa table shelf mirror
carpet curtain pillow blanket towel kettle toaster blender mixer oven fridge freezer washer dryer
vacuum iron fan heater garden hose rake shovel seed plant flower pot soil fertiliser tent sleeping
backpack bottle flask stove compass map bicycle helmet pump tyre chain pedal saddle bell light lock
warranty repair exchange guarantee damage broken missing late early weekend holiday express standard
international customs duty tax fee price cost label tracking number branch store opening hours
monday tuesday wednesday thursday friday saturday sunday morning evening europe norway sweden
germany france spain italy poland canada mexico brazil japan india australia`
  .split(/\s+/)
  .filter(Boolean);
