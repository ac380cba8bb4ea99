// What the benchmarks send: the seeded bots' sources, chat sends as the widget makes them, an
// owner's dashboard reads drawn by a Zipf law, and the stale-read check run beside the reads.
import { randomBytes, randomUUID } from 'node:crypto';
import { gql, sleep } from './harness.mjs';

// What a widget's visitors ask about. Sent as they are (SEND_TEXTS=repeated), every search
// repeats; by default each send adds words of its own, so no two texts are alike, as people write.
export const TEXTS = [
  'When are you open on Saturday?',
  'Do you sell decaf beans by the kilo?',
  'Can I get a refund on a gift card?',
  'How long does shipping abroad take?',
  'Do you have oat milk?',
];

/** The TEXT sources every seeded bot gets. */
export const TOPICS = [
  'Refunds are accepted within 30 days of purchase with a receipt. Our refund policy covers unopened items.',
  'We are open Monday to Friday 8am to 6pm and on Saturday from 9am to 1pm. Opening hours may change on holidays.',
  'Shipping abroad takes 5 to 10 business days. Gift cards are valid for two years. Warranty repair takes a week.',
];

export const BOT_QUERY =
  'query Bot($id: ID!) { bot(id: $id) { id name description owner { id email name } sources { id title status } } }';
const SOURCES_QUERY = 'query BotSources($id: ID!) { bot(id: $id) { id sources { id title status } } }';
const SEARCH_QUERY = 'query Search($b: ID!, $q: String!) { search(botId: $b, query: $q, limit: 3) { sourceId score } }';
const SEARCHES = ['refund policy', 'opening hours on saturday', 'shipping abroad', 'gift cards', 'warranty repair'];
const SEND = 'mutation Send($i: SendMessageInput!) { sendMessage(input: $i) { conversationId message { id status } } }';
const RENAME = 'mutation Rename($id: ID!, $name: String!) { updateBot(id: $id, input: { name: $name }) { id name } }';

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

/** Words no other send has: an order number drawn at random (so warm-up and run never share one). */
const uniqueTail = () => ` My order number is ${randomBytes(6).toString('hex')}.`;

/**
 * Writers: writer `i` sends `perConversation` messages per conversation, on a bot of its own,
 * each with a clientMessageId; a failed send starts a new conversation. `texts`: 'unique'
 * (each text a question of TEXTS with an order number of its own) or 'repeated' (TEXTS as they are).
 */
export const sender =
  (botIds, perConversation = 5, texts = 'unique') =>
  (i) => {
    let conversationId = null;
    let sent = 0;
    const botId = botIds[i % botIds.length];
    return {
      next: () => {
        if (sent >= perConversation) [conversationId, sent] = [null, 0];
        const text = TEXTS[(i + sent) % TEXTS.length] + (texts === 'repeated' ? '' : uniqueTail());
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
 * An owner's next read: 60 % a bot with its owner and sources, 25 % its sources, 15 % a search;
 * bots drawn by a Zipf law of exponent `zipfS` (a few are hot).
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

/**
 * The stale-read check, run beside a read load until `stop()`: every second it renames
 * `updatesPerTick` of the 10 hottest bots (fewer when there are fewer) through the target's own `updateBot` and, once each
 * rename is acknowledged, reads the bot back `readsPerUpdate` times with the load's own bot
 * query (the same text and variables, so a whole-response cache answers it as it answers the
 * load). A read is stale when it shows another name than the last acknowledged one.
 */
export function staleReadCheck({ origin, token, botIds, label, updatesPerTick = 3, readsPerUpdate = 5 }) {
  const stale = { updates: 0, updateErrors: 0, reads: 0, staleReads: 0, staleSample: null };
  let running = true;
  async function tick(tickNo) {
    const hot = Math.min(10, botIds.length);
    const picks = Array.from(
      { length: Math.min(updatesPerTick, hot) },
      (_, i) => botIds[(tickNo * updatesPerTick + i) % hot],
    );
    await Promise.all(
      picks.map(async (id, i) => {
        const name = `${label}-rename-${tickNo}-${i}`;
        const renamed = await gql(origin, RENAME, { id, name }, token).catch(() => null);
        if (renamed?.updateBot?.name !== name) {
          stale.updateErrors++;
          return;
        }
        stale.updates++;
        for (let r = 0; r < readsPerUpdate; r++) {
          const seen = (await gql(origin, BOT_QUERY, { id }, token).catch(() => null))?.bot?.name;
          stale.reads++;
          if (seen !== name) {
            stale.staleReads++;
            stale.staleSample ??= { expected: name, seen };
          }
        }
      }),
    );
  }
  const loop = (async () => {
    for (let tickNo = 0; running; tickNo++) {
      const t = Date.now();
      await tick(tickNo);
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return stale;
    },
  };
}
