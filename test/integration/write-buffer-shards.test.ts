import { createBufferShards } from '../../src/buffer/shards';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { testIntent } from '../helpers/buffer';
import { testKeyPrefix } from '../helpers/redis';
import { createBot, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The write buffer split in shards, whatever this run's default (on one Redis or the local
 * cluster): every guarantee of one buffer, kept across shards and workers.
 */
const SHARDS = 16;
const SEND_MESSAGE = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { conversationId message { id status } reply { id status } }
}`;
const MESSAGES_OF = `query($id: ID!) { conversation(id: $id) { messages(last: 100) { id role status } } }`;

const range = (count: number) => Array.from({ length: count }, (_, i) => i);

describe(`the write buffer in ${SHARDS} shards`, () => {
  const shards = createBufferShards(SHARDS);
  let app: TestApp;
  let owner: { token: string; userId: string };
  let bot: { id: string };

  beforeAll(async () => {
    app = await startTestApp({ REDIS_ENABLED: 'true', BUFFER_SHARDS: String(SHARDS) }, { flusher: false });
    owner = await signUpOwner(app, 'shards');
    bot = await createBot(app, owner.token, 'Sharded');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  });

  async function send(input: { text: string; conversationId?: string; clientMessageId?: string }) {
    const answer = await app.gql(SEND_MESSAGE, { input: { botId: bot.id, ...input } }, owner.token);
    expect(answer.errors).toBeUndefined();
    return answer.data!.sendMessage as {
      conversationId: string;
      message: { id: string; status: string };
      reply: { id: string; status: string };
    };
  }

  const userMessageIds = async (conversationId: string) => {
    const read = await app.gql(MESSAGES_OF, { id: conversationId }, owner.token);
    return (read.data!.conversation.messages as { id: string; role: string }[])
      .filter((message) => message.role === 'USER')
      .map((message) => message.id);
  };

  it("keeps each conversation's messages in one shard and in the order sent, read before and after two workers flush them", async () => {
    const CONVERSATIONS = 8;
    const MESSAGES = 6;
    // Conversations side by side, each message sent once the one before was acknowledged.
    const conversations = await Promise.all(
      range(CONVERSATIONS).map(async (c) => {
        const first = await send({ text: `c${c} m0` });
        const sent = [first.message.id];
        for (let m = 1; m < MESSAGES; m++) {
          sent.push((await send({ text: `c${c} m${m}`, conversationId: first.conversationId })).message.id);
        }
        return { id: first.conversationId, sent };
      }),
    );
    // Queued: every id names its conversation's shard, and the conversation reads in order.
    expect(new Set(conversations.map(({ id }) => shards.ofId(id))).size).toBeGreaterThan(1);
    for (const { id, sent } of conversations) {
      expect(sent.map((messageId) => shards.ofId(messageId))).toEqual(sent.map(() => shards.ofId(id)));
      expect(await userMessageIds(id)).toEqual(sent);
    }

    // Two workers of two loops each, in small batches: many claims across the shards at once.
    const flushers = [0, 1].map(() => app.startFlusher({ batchSize: 3, flushConcurrency: 2 }));
    await app.drained();
    await Promise.all(flushers.map((flusher) => flusher.stop()));
    expect(flushers.reduce((sum, flusher) => sum + flusher.counters.flushed, 0)).toBe(CONVERSATIONS * MESSAGES);

    for (const { id, sent } of conversations) {
      const stored = await app.deps
        .db('messages')
        .where({ conversation_id: id, role: 'USER' })
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .select('id');
      expect(stored.map((row: { id: string }) => row.id)).toEqual(sent);
      expect(await app.deps.db('messages').where({ conversation_id: id }).count({ n: '*' })).toEqual([
        { n: String(2 * MESSAGES) },
      ]);
      expect(await userMessageIds(id)).toEqual(sent);
    }
  }, 60_000);

  it('answers every retry of a first message with the first send, at once or later, and stores it once', async () => {
    const input = { text: 'First words', clientMessageId: 'first-message-retried' };
    // Each attempt mints a conversation id of its own, in the shard of the first attempt's key.
    const answers = await Promise.all(range(5).map(() => send(input)));
    const later = await send(input);
    for (const answer of [...answers, later]) {
      expect(answer.conversationId).toBe(answers[0]!.conversationId);
      expect(answer.message.id).toBe(answers[0]!.message.id);
      expect(answer.reply.id).toBe(answers[0]!.reply.id);
    }
    expect(shards.ofId(answers[0]!.conversationId)).toBe(
      shards.ofId(shards.newConversationId(bot.id, owner.userId, input.clientMessageId)),
    );
    const flusher = app.startFlusher();
    await app.drained();
    await flusher.stop();
    expect(await app.deps.db('messages').where({ client_message_id: input.clientMessageId })).toHaveLength(1);
    expect(await app.deps.db('conversations').where({ bot_id: bot.id, id: answers[0]!.conversationId })).toHaveLength(
      1,
    );
  });

  it('gives each shard its turn: a shard with a few intents does not wait behind a busy one', async () => {
    const busy = testIntent({ botId: bot.id, senderId: owner.userId, question: 'b', answer: 'b', shards });
    let quietConversation: string;
    do {
      quietConversation = shards.newConversationId(bot.id, owner.userId, undefined);
    } while (shards.ofId(quietConversation) === shards.ofId(busy.conversation.id));
    const intentsOf = (conversationId: string, count: number) =>
      range(count).map((i) =>
        testIntent({
          botId: bot.id,
          senderId: owner.userId,
          question: `q${i}`,
          answer: `a${i}`,
          conversationId,
          shards,
        }),
      );
    const BATCH = 20;
    for (const intent of intentsOf(busy.conversation.id, 10 * BATCH)) await app.deps.buffer!.push(intent);
    for (const intent of intentsOf(quietConversation, 5)) await app.deps.buffer!.push(intent);

    // One loop, so the order of its transactions is the order it served the shards in.
    const flusher = app.startFlusher({ batchSize: BATCH, flushConcurrency: 1 });
    await app.drained();
    await flusher.stop();
    // A row's xmin is the transaction that inserted it: they are numbered in the order they began.
    const transactions = async (conversationId: string) =>
      [
        ...new Set(
          (
            await app.deps
              .db('messages')
              .where({ conversation_id: conversationId })
              .select(app.deps.db.raw('xmin::text'))
          ).map((row: { xmin: string }) => Number(row.xmin)),
        ),
      ].sort((a, b) => a - b);
    const [quiet] = await transactions(quietConversation);
    const busyOnes = await transactions(busy.conversation.id);
    // Batches of 20, the quiet shard's 5 sharing one with the busy shard's.
    expect(busyOnes.length).toBeGreaterThanOrEqual(10);
    // At most the batch it started on went before the quiet shard's turn.
    expect(busyOnes.filter((transaction) => transaction < quiet!).length).toBeLessThanOrEqual(1);
  }, 60_000);
});

describe('a change of BUFFER_SHARDS', () => {
  it('is refused while intents written with the old count wait, and taken up once they are stored', async () => {
    const prefix = testKeyPrefix();
    const before = await startTestApp(
      { REDIS_ENABLED: 'true', BUFFER_SHARDS: '1', REDIS_KEY_PREFIX: prefix },
      { flusher: false },
    );
    try {
      const owner = await signUpOwner(before, 'layout');
      const bot = await createBot(before, owner.token, 'Layout');
      const intent = testIntent({
        botId: bot.id,
        senderId: owner.userId,
        question: 'q',
        answer: 'a',
        shards: createBufferShards(1),
      });
      expect((await before.deps.buffer!.push(intent)).kind).toBe('QUEUED');

      const changed = { REDIS_ENABLED: 'true', BUFFER_SHARDS: '16', REDIS_KEY_PREFIX: prefix };
      await expect(startTestApp(changed)).rejects.toThrow(
        /holds 1 intents \(waiting, claimed or dead-lettered\) written with BUFFER_SHARDS=1, and this process has BUFFER_SHARDS=16/,
      );

      const flusher = before.startFlusher();
      await before.drained();
      await flusher.stop();
      const after = await startTestApp(changed);
      try {
        expect(await after.deps.clients.redis!.get(createCacheKeys(prefix).bufferLayout())).toBe('16');
      } finally {
        await after.close();
      }
    } finally {
      await before.close();
    }
  }, 60_000);
});
