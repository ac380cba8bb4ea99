// What `make bench` and `make bench-compare` run against: the seeded owner and bots, chat sends as
// the widget makes them, and an owner's dashboard reads.
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BOT_QUERY, SEARCH_QUERY, SEARCHES, SOURCES_QUERY, TOPICS, zipfPicker } from '../bench-read/loadgen.mjs';
import { gql, sleep, stop, waitHttp } from '../lib/harness.mjs';
import { TEXTS } from '../lib/sends.mjs';

/**
 * Seeds the harness' fresh database through `dist` (a rollback-mode api and worker on `port` and
 * `port + 1`): one owner, `bots` bots with three TEXT sources each, ingested (READY). The
 * password and the token stay in this process: nothing secret goes to a report.
 */
export async function seedOwner(h, dist, { bots, port, name }) {
  await h.createDatabase();
  const origin = `http://127.0.0.1:${port}`;
  const api = h.start('seed-api', process.execPath, [join(dist, 'src/main.js')], h.parleyEnv(port), 'seed-api');
  const worker = h.start(
    'seed-worker',
    process.execPath,
    [join(dist, 'worker/main.js')],
    { ...h.parleyEnv(port + 1), INGEST_CONCURRENCY: '4', INGEST_POLL_MILLIS: '200' },
    'seed-worker',
  );
  await waitHttp(`${origin}/health/db`, api);
  const email = `${name}-${h.stamp.toLowerCase()}@example.com`;
  const password = `Bench-${randomBytes(12).toString('hex')}`;
  const { signUp } = await gql(origin, 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }', {
    i: { email, password, name: 'Bench Owner' },
  });
  const botIds = [];
  for (let i = 0; i < bots; i++) {
    const { createBot } = await gql(
      origin,
      'mutation($i: CreateBotInput!) { createBot(input: $i) { id } }',
      { i: { name: `Bench bot ${i + 1}`, description: `Bot ${i + 1} of the benchmark` } },
      signUp.token,
    );
    botIds.push(createBot.id);
    await Promise.all(
      TOPICS.map((text, k) =>
        gql(
          origin,
          'mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }',
          { i: { botId: createBot.id, kind: 'TEXT', title: `Source ${k + 1}`, text } },
          signUp.token,
        ),
      ),
    );
  }
  const db = await h.probe();
  for (let i = 0; ; i++) {
    const rows = await db.query('SELECT status, count(*)::int AS n FROM sources GROUP BY status');
    const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    if ((by.READY ?? 0) === botIds.length * TOPICS.length) break;
    if (by.FAILED || i > 1200) throw new Error(`ingestion did not finish: ${JSON.stringify(by)}`);
    await sleep(100);
  }
  await db.end();
  await stop(worker);
  await stop(api);
  h.log(`seeded ${botIds.length} bots with ${botIds.length * TOPICS.length} sources for ${email}`);
  return { email, password, postgresToken: signUp.token, botIds };
}

const SEND = 'mutation Send($i: SendMessageInput!) { sendMessage(input: $i) { conversationId message { id status } } }';

/**
 * Writers: writer `i` sends `perConversation` messages per conversation, on a bot of its own,
 * each with a clientMessageId; a failed send starts a new conversation.
 */
export const sender =
  (botIds, perConversation = 5) =>
  (i) => {
    let conversationId = null;
    let sent = 0;
    const botId = botIds[i % botIds.length];
    return {
      next: () => {
        if (sent >= perConversation) [conversationId, sent] = [null, 0];
        const text = TEXTS[(i + sent) % TEXTS.length];
        const input = { botId, text, clientMessageId: randomUUID(), ...(conversationId ? { conversationId } : {}) };
        return { kind: 'write', field: 'sendMessage', body: JSON.stringify({ query: SEND, variables: { i: input } }) };
      },
      answered: (outcome, answer) => {
        if (outcome !== 'ok') [conversationId, sent] = [null, 0];
        else [conversationId, sent] = [answer.data.sendMessage.conversationId, sent + 1];
      },
    };
  };

/**
 * An owner's next read, as bench-read: 60 % a bot with its owner and sources, 25 % its
 * sources, 15 % a search; bots drawn by a Zipf law of exponent `zipfS` (a few are hot).
 */
export function reader(botIds, zipfS = 1.1) {
  const rank = zipfPicker(botIds.length, zipfS);
  return () => {
    const id = botIds[rank()];
    const r = Math.random();
    if (r < 0.6) return { kind: 'read', field: 'bot', body: JSON.stringify({ query: BOT_QUERY, variables: { id } }) };
    if (r < 0.85)
      return { kind: 'read', field: 'bot', body: JSON.stringify({ query: SOURCES_QUERY, variables: { id } }) };
    const q = SEARCHES[Math.floor(Math.random() * SEARCHES.length)];
    return { kind: 'read', field: 'search', body: JSON.stringify({ query: SEARCH_QUERY, variables: { b: id, q } }) };
  };
}
