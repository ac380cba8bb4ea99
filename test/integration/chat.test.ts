import { NO_MATCH_REPLY } from '../../src/chat/reply-builder';
import { createBarrier } from '../helpers/barrier';
import {
  createBot,
  errorCode,
  eventually,
  signUpOwner,
  startTestApp,
  type GraphQLResponse,
  type TestApp,
} from '../helpers/test-app';

const START_WIDGET_SESSION = `mutation($publicKey: String!) {
  startWidgetSession(publicKey: $publicKey) { token expiresAt bot { name publicKey } }
}`;
const SEND_MESSAGE = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) {
    conversationId
    message { id conversationId role status content createdAt }
    reply { id conversationId role status content createdAt }
  }
}`;
const CONVERSATION = `query($id: ID!, $last: Int) {
  conversation(id: $id) { id bot { name } messages(last: $last) { id role content status createdAt } }
}`;
const MESSAGE_STATUSES = `query($ids: [ID!]!) { messageStatuses(ids: $ids) { messageId conversationId status error } }`;

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UNKNOWN_ID = '01890000-0000-7000-8000-000000000000';

const SHOP_HOURS = `Bean There Coffee is open Monday to Friday from 7am to 6pm, and on Saturday from 8am to 4pm.
We are closed on public holidays. The shop is at 12 Harbour Street, next to the ferry terminal.`;

describe('chat', () => {
  let app: TestApp;
  let owner: { token: string; userId: string };
  let otherOwner: { token: string; userId: string };
  /** Has the SHOP_HOURS source, ingested. */
  let shopBot: { id: string; publicKey: string };
  /** A second bot of the same owner, without sources. */
  let plainBot: { id: string; publicKey: string };

  beforeAll(async () => {
    app = await startTestApp();
    [owner, otherOwner] = await Promise.all([signUpOwner(app, 'chat-owner'), signUpOwner(app, 'chat-other')]);
    shopBot = await createBot(app, owner.token, 'Bean There');
    plainBot = await createBot(app, owner.token, 'Plain');
    const source = await app.gql(
      `mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }`,
      { input: { botId: shopBot.id, kind: 'TEXT', title: 'Shop hours', text: SHOP_HOURS } },
      owner.token,
    );
    const sourceId = source.data!.createSource.id;
    app.startWorker();
    const status = await eventually(async () => {
      const response = await app.gql(`query($id: ID!) { source(id: $id) { status } }`, { id: sourceId }, owner.token);
      const current = response.data?.source?.status;
      return current === 'READY' || current === 'FAILED' ? current : undefined;
    });
    expect(status).toBe('READY');
  });
  afterAll(() => app.close());

  const startVisitor = async (publicKey: string): Promise<string> => {
    const response = await app.gql(START_WIDGET_SESSION, { publicKey });
    if (!response.data?.startWidgetSession) throw new Error(`no widget session: ${JSON.stringify(response.errors)}`);
    return response.data.startWidgetSession.token;
  };

  const send = async (
    token: string | undefined,
    input: { botId: string; text: string; conversationId?: string; clientMessageId?: string },
  ): Promise<GraphQLResponse> => {
    const response = await app.gql(SEND_MESSAGE, { input }, token);
    // With the write buffer on, the worker stores sends shortly after: the assertions on
    // stored rows below hold once it has.
    await app.drained();
    return response;
  };
  /** What a send answers: stored at once in rollback mode, queued in the write buffer otherwise. */
  const sentStatus = () => (app.config.redis.enabled ? 'QUEUED' : 'PERSISTED');

  /** Sends and returns the payload, failing the test on any error. */
  const sendOk = async (token: string, input: Parameters<typeof send>[1]) => {
    const response = await send(token, input);
    expect(response.errors).toBeUndefined();
    return response.data!.sendMessage;
  };

  /** A send's answer without the statuses, which move from QUEUED to PERSISTED with the write buffer on. */
  const withoutStatus = ({ message, reply, ...rest }: Awaited<ReturnType<typeof sendOk>>) => ({
    ...rest,
    message: { ...message, status: undefined },
    reply: { ...reply, status: undefined },
  });

  const rowCounts = async () => {
    const [messages, conversations] = await Promise.all([
      app.deps.db('messages').count({ n: '*' }),
      app.deps.db('conversations').count({ n: '*' }),
    ]);
    return { messages: Number(messages[0]?.n), conversations: Number(conversations[0]?.n) };
  };

  describe('widget session', () => {
    it('starts a 24-hour visitor session for a public key', async () => {
      const response = await app.gql(START_WIDGET_SESSION, { publicKey: shopBot.publicKey });
      expect(response.errors).toBeUndefined();
      const { token, expiresAt, bot } = response.data!.startWidgetSession;
      expect(bot).toEqual({ name: 'Bean There', publicKey: shopBot.publicKey });
      expect(token).toEqual(expect.any(String));
      const ttlHours = (Date.parse(expiresAt) - Date.now()) / 3_600_000;
      expect(ttlHours).toBeGreaterThan(23.9);
      expect(ttlHours).toBeLessThanOrEqual(24);
    });

    it('answers NOT_FOUND for an unknown public key and BAD_USER_INPUT for an empty one', async () => {
      const unknown = await app.gql(START_WIDGET_SESSION, { publicKey: 'pk_does_not_exist' });
      expect(errorCode(unknown)).toBe('NOT_FOUND');
      expect(unknown.data).toEqual({ startWidgetSession: null });
      const empty = await app.gql(START_WIDGET_SESSION, { publicKey: '' });
      expect(errorCode(empty)).toBe('BAD_USER_INPUT');
      expect(empty.errors![0]!.extensions!.field).toBe('publicKey');
    });

    it("enforces the bot's allowed origins on browser requests, as its owner sets them", async () => {
      const bot = await createBot(app, owner.token, 'Picky');
      const setOrigins = (allowedOrigins: unknown) =>
        app.gql(
          `mutation($id: ID!, $o: [String!]) { updateBot(id: $id, input: { allowedOrigins: $o }) { allowedOrigins } }`,
          { id: bot.id, o: allowedOrigins },
          owner.token,
        );
      const startFrom = async (origin?: string) => {
        const response = await fetch(`${app.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
          body: JSON.stringify({ query: START_WIDGET_SESSION, variables: { publicKey: bot.publicKey } }),
        });
        return (await response.json()) as GraphQLResponse;
      };

      // Any site while the list is empty.
      expect((await startFrom('https://anywhere.example')).errors).toBeUndefined();
      const set = await setOrigins(['HTTPS://Shop.Example:443/', 'http://127.0.0.1:8080', 'https://shop.example']);
      expect(set.data!.updateBot.allowedOrigins).toEqual(['https://shop.example', 'http://127.0.0.1:8080']);
      expect((await startFrom('https://shop.example')).errors).toBeUndefined();
      expect((await startFrom('http://127.0.0.1:8080')).errors).toBeUndefined();
      const refused = await startFrom('https://evil.example');
      expect(errorCode(refused)).toBe('FORBIDDEN');
      expect(refused.errors![0]!.message).toBe('This chat is not available on this site.');
      // Lookalikes are other origins.
      for (const origin of ['https://shop.example.evil.example', 'http://shop.example', 'https://shop.example:8443']) {
        expect(errorCode(await startFrom(origin))).toBe('FORBIDDEN');
      }
      // No Origin: not a browser page, which is what the list is about.
      expect((await startFrom()).errors).toBeUndefined();

      for (const bad of [
        ['https://shop.example/path'],
        ['ftp://shop.example'],
        ['shop.example'],
        ['https://u:p@shop.example'],
        Array.from({ length: 21 }, (_, i) => `https://s${i}.example`),
      ]) {
        const response = await setOrigins(bad);
        expect({ bad, code: errorCode(response) }).toEqual({ bad, code: 'BAD_USER_INPUT' });
      }
      expect((await setOrigins(null)).data!.updateBot.allowedOrigins).toEqual([]);
      expect((await startFrom('https://evil.example')).errors).toBeUndefined();
    });

    describe('owner-only bot fields', () => {
      const withBotFields = (fields: string) =>
        `mutation($publicKey: String!) { startWidgetSession(publicKey: $publicKey) { token bot { name publicKey ${fields} } } }`;
      /** What only the owner may see: none of it may appear anywhere in a visitor's answer. */
      let secrets: string[];
      beforeAll(async () => {
        const updated = await app.gql(
          `mutation($id: ID!) { updateBot(id: $id, input: { instructions: "Never mention the decaf recall." }) { id } }`,
          { id: shopBot.id },
          owner.token,
        );
        expect(updated.errors).toBeUndefined();
        const row = await app.deps.db('users').where({ id: owner.userId }).first('email');
        secrets = ['Never mention the decaf recall.', row.email, 'Shop hours', owner.userId];
      });

      it.each([
        ['an anonymous widget', false],
        ['a visitor of the bot', true],
      ])('gives %s FORBIDDEN for instructions, but the name and public key', async (_case, withToken) => {
        const token = withToken ? await startVisitor(shopBot.publicKey) : undefined;
        const response = await app.gql(withBotFields('instructions'), { publicKey: shopBot.publicKey }, token);
        expect(response.errors).toHaveLength(1);
        expect(response.errors![0]).toMatchObject({
          path: ['startWidgetSession', 'bot', 'instructions'],
          extensions: { code: 'FORBIDDEN' },
        });
        expect(response.data!.startWidgetSession.token).toEqual(expect.any(String));
        expect(response.data!.startWidgetSession.bot).toEqual({
          name: 'Bean There',
          publicKey: shopBot.publicKey,
          instructions: null,
        });
        for (const secret of secrets) expect(JSON.stringify(response)).not.toContain(secret);
      });

      it.each([
        ['owner', 'owner { id email }'],
        ['sources', 'sources { id title }'],
      ])('gives a widget FORBIDDEN for %s and none of its data', async (field, selection) => {
        for (const token of [undefined, await startVisitor(shopBot.publicKey)]) {
          const response = await app.gql(withBotFields(selection), { publicKey: shopBot.publicKey }, token);
          expect(response.errors).toHaveLength(1);
          expect(response.errors![0]).toMatchObject({
            path: ['startWidgetSession', 'bot', field],
            extensions: { code: 'FORBIDDEN' },
          });
          // The field is nullable: the visitor still gets the session and the bot's public part.
          expect(response.data!.startWidgetSession.token).toEqual(expect.any(String));
          expect(response.data!.startWidgetSession.bot).toEqual({
            name: 'Bean There',
            publicKey: shopBot.publicKey,
            [field]: null,
          });
          for (const secret of secrets) expect(JSON.stringify(response)).not.toContain(secret);
        }
      });

      it('shows the owner all three', async () => {
        const response = await app.gql(
          withBotFields('instructions owner { id } sources { title }'),
          { publicKey: shopBot.publicKey },
          owner.token,
        );
        expect(response.errors).toBeUndefined();
        expect(response.data!.startWidgetSession.bot).toEqual({
          name: 'Bean There',
          publicKey: shopBot.publicKey,
          instructions: 'Never mention the decaf recall.',
          owner: { id: owner.userId },
          sources: [{ title: 'Shop hours' }],
        });
      });
    });
  });

  describe('a visitor conversation', () => {
    it('opens a conversation, answers from the sources, and reads back oldest first', async () => {
      const visitor = await startVisitor(shopBot.publicKey);

      const first = await sendOk(visitor, { botId: shopBot.id, text: '  When are you open on Saturday?  ' });
      expect(first.conversationId).toMatch(UUID_V7);
      expect(first.message).toMatchObject({
        conversationId: first.conversationId,
        role: 'USER',
        status: sentStatus(),
        content: 'When are you open on Saturday?',
      });
      expect(first.message.id).toMatch(UUID_V7);
      expect(first.reply).toMatchObject({
        conversationId: first.conversationId,
        role: 'ASSISTANT',
        status: sentStatus(),
      });
      expect(first.reply.id).toMatch(UUID_V7);
      expect(first.reply.content).toContain('Saturday from 8am to 4pm');

      const second = await sendOk(visitor, {
        botId: shopBot.id,
        conversationId: first.conversationId,
        text: 'Tell me a joke about cats',
      });
      expect(second.conversationId).toBe(first.conversationId);
      expect(second.message.conversationId).toBe(first.conversationId);
      expect(second.reply.content).toBe(NO_MATCH_REPLY);

      const all = await app.gql(CONVERSATION, { id: first.conversationId }, visitor);
      expect(all.errors).toBeUndefined();
      expect(all.data!.conversation.bot).toEqual({ name: 'Bean There' });
      const messages = all.data!.conversation.messages;
      expect(messages.map((m: { id: string }) => m.id)).toEqual([
        first.message.id,
        first.reply.id,
        second.message.id,
        second.reply.id,
      ]);
      expect(messages.map((m: { role: string }) => m.role)).toEqual(['USER', 'ASSISTANT', 'USER', 'ASSISTANT']);
      expect(messages[0]).toMatchObject({ content: 'When are you open on Saturday?', status: 'PERSISTED' });
      expect(messages[3]).toMatchObject({ content: NO_MATCH_REPLY, status: 'PERSISTED' });
      const times = messages.map((m: { createdAt: string }) => Date.parse(m.createdAt));
      expect(times).toEqual([...times].sort((a, b) => a - b));

      const lastTwo = await app.gql(CONVERSATION, { id: first.conversationId, last: 2 }, visitor);
      expect(lastTwo.data!.conversation.messages.map((m: { id: string }) => m.id)).toEqual([
        second.message.id,
        second.reply.id,
      ]);
    });

    it('updates the bot and conversation activity', async () => {
      const visitor = await startVisitor(shopBot.publicKey);
      const before = await app.deps.db('bots').where({ id: shopBot.id }).first('message_count');

      const sent = await sendOk(visitor, { botId: shopBot.id, text: 'Where is the shop?' });

      const bot = await app.deps.db('bots').where({ id: shopBot.id }).first('message_count', 'last_active_at');
      expect(Number(bot.message_count)).toBe(Number(before.message_count) + 2);
      expect(bot.last_active_at).toBeInstanceOf(Date);
      expect(bot.last_active_at.getTime()).toBeGreaterThanOrEqual(Date.parse(sent.message.createdAt));
      const conversation = await app.deps.db('conversations').where({ id: sent.conversationId }).first();
      expect(conversation.last_message_at).toBeInstanceOf(Date);
      expect(conversation.last_message_at.getTime()).toBeGreaterThanOrEqual(Date.parse(sent.message.createdAt));
      expect(conversation.bot_id).toBe(shopBot.id);
      expect(conversation.owner_user_id).toBeNull();

      // The owner reads the same through the API; a visitor may not.
      const query = `query($id: ID!) { bot(id: $id) { messageCount lastActiveAt conversations(first: 1) { id } } }`;
      const seen = await app.gql(query, { id: shopBot.id }, owner.token);
      expect(seen.data!.bot).toEqual({
        messageCount: Number(bot.message_count),
        lastActiveAt: bot.last_active_at.toISOString(),
        conversations: [{ id: sent.conversationId }],
      });
      // A visitor sees the bot through its widget session, without them.
      const hidden = await app.gql(
        `mutation($k: String!) { startWidgetSession(publicKey: $k) { bot { name messageCount lastActiveAt conversations { id } } } }`,
        { k: shopBot.publicKey },
      );
      expect(hidden.data!.startWidgetSession.bot).toEqual({
        name: 'Bean There',
        messageCount: null,
        lastActiveAt: null,
        conversations: null,
      });
      expect(hidden.errors!.map((error) => error.extensions!.code)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
      const tooMany = await app.gql(
        `query($id: ID!) { bot(id: $id) { conversations(first: 101) { id } } }`,
        { id: shopBot.id },
        owner.token,
      );
      expect(errorCode(tooMany)).toBe('BAD_USER_INPUT');
    });

    it('lets owners chat with their own bot', async () => {
      const sent = await sendOk(owner.token, { botId: shopBot.id, text: 'Are you open on public holidays?' });
      expect(sent.message).toMatchObject({ role: 'USER', status: sentStatus() });
      expect(sent.reply.content).toContain('closed on public holidays');
      const conversation = await app.deps.db('conversations').where({ id: sent.conversationId }).first();
      expect(conversation).toMatchObject({ owner_user_id: owner.userId, visitor_id: null });

      const next = await sendOk(owner.token, {
        botId: shopBot.id,
        conversationId: sent.conversationId,
        text: 'Thanks!',
      });
      expect(next.conversationId).toBe(sent.conversationId);
      const read = await app.gql(CONVERSATION, { id: sent.conversationId }, owner.token);
      expect(read.data!.conversation.messages).toHaveLength(4);

      // The owner's own conversation is theirs: visitors and other owners can neither read nor post.
      const visitor = await startVisitor(shopBot.publicKey);
      expect(errorCode(await app.gql(CONVERSATION, { id: sent.conversationId }, visitor))).toBe('FORBIDDEN');
      expect(errorCode(await app.gql(CONVERSATION, { id: sent.conversationId }, otherOwner.token))).toBe('FORBIDDEN');
      const before = await rowCounts();
      for (const intruder of [visitor, otherOwner.token]) {
        const post = await send(intruder, { botId: shopBot.id, conversationId: sent.conversationId, text: 'Hello' });
        expect(errorCode(post)).toBe('FORBIDDEN');
        expect(post.data).toEqual({ sendMessage: null });
      }
      expect(await rowCounts()).toEqual(before);
      expect(
        (await app.gql(CONVERSATION, { id: sent.conversationId }, owner.token)).data!.conversation.messages,
      ).toHaveLength(4);
    });
  });

  describe('isolation', () => {
    let visitor: string;
    let conversationId: string;
    beforeAll(async () => {
      visitor = await startVisitor(shopBot.publicKey);
      conversationId = (await sendOk(visitor, { botId: shopBot.id, text: 'Is there bicycle parking?' })).conversationId;
    });

    it('keeps a conversation from other visitors of the same bot', async () => {
      const intruder = await startVisitor(shopBot.publicKey);
      const read = await app.gql(CONVERSATION, { id: conversationId }, intruder);
      expect(errorCode(read)).toBe('FORBIDDEN');
      expect(read.data).toEqual({ conversation: null });

      const before = await rowCounts();
      const post = await send(intruder, { botId: shopBot.id, conversationId, text: 'Hijacked' });
      expect(errorCode(post)).toBe('FORBIDDEN');
      expect(await rowCounts()).toEqual(before);
    });

    it('binds a visitor token to its bot', async () => {
      const before = await rowCounts();
      const response = await send(visitor, { botId: plainBot.id, text: 'Hello other bot' });
      expect(errorCode(response)).toBe('FORBIDDEN');
      expect(await rowCounts()).toEqual(before);
    });

    it('lets the owner read a visitor conversation but not post into it', async () => {
      const read = await app.gql(CONVERSATION, { id: conversationId }, owner.token);
      expect(read.errors).toBeUndefined();
      expect(read.data!.conversation.messages[0]).toMatchObject({ role: 'USER', content: 'Is there bicycle parking?' });

      const before = await rowCounts();
      const post = await send(owner.token, { botId: shopBot.id, conversationId, text: 'Owner here' });
      expect(errorCode(post)).toBe('FORBIDDEN');
      expect(await rowCounts()).toEqual(before);
    });

    it('keeps a conversation from other owners', async () => {
      expect(errorCode(await app.gql(CONVERSATION, { id: conversationId }, otherOwner.token))).toBe('FORBIDDEN');
    });

    it('keeps owner operations and owner-only bot fields from visitors', async () => {
      const create = await app.gql(`mutation { createBot(input: { name: "Mine now" }) { id } }`, {}, visitor);
      expect(errorCode(create)).toBe('FORBIDDEN');
      expect(await app.deps.db('bots').where({ name: 'Mine now' })).toHaveLength(0);

      const instructions = await app.gql(
        `query($id: ID!) { conversation(id: $id) { bot { name instructions } } }`,
        { id: conversationId },
        visitor,
      );
      expect(errorCode(instructions)).toBe('FORBIDDEN');
      expect(instructions.errors![0]!.path).toEqual(['conversation', 'bot', 'instructions']);
      expect(instructions.data!.conversation.bot).toEqual({ name: 'Bean There', instructions: null });

      const ownerField = await app.gql(
        `query($id: ID!) { conversation(id: $id) { bot { owner { id email } } } }`,
        { id: conversationId },
        visitor,
      );
      expect(errorCode(ownerField)).toBe('FORBIDDEN');
      expect(ownerField.errors![0]!.path).toEqual(['conversation', 'bot', 'owner']);
      expect(JSON.stringify(ownerField.data)).not.toContain(owner.userId);
    });

    it('answers NOT_FOUND for an unknown conversation and BAD_USER_INPUT for a malformed id', async () => {
      const unknown = await app.gql(CONVERSATION, { id: UNKNOWN_ID }, visitor);
      expect(errorCode(unknown)).toBe('NOT_FOUND');
      const malformed = await app.gql(CONVERSATION, { id: 'not-an-id' }, visitor);
      expect(errorCode(malformed)).toBe('BAD_USER_INPUT');

      const before = await rowCounts();
      const post = await send(visitor, { botId: shopBot.id, conversationId: UNKNOWN_ID, text: 'Hi' });
      expect(errorCode(post)).toBe('NOT_FOUND');
      expect(await rowCounts()).toEqual(before);
    });

    it('rejects a conversationId of another bot with BAD_USER_INPUT', async () => {
      const ownersChat = await sendOk(owner.token, { botId: shopBot.id, text: 'Testing the shop bot' });
      const before = await rowCounts();
      const response = await send(owner.token, {
        botId: plainBot.id,
        conversationId: ownersChat.conversationId,
        text: 'Wrong bot',
      });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0]!.extensions!.field).toBe('conversationId');
      expect(await rowCounts()).toEqual(before);
    });
  });

  describe('bad input', () => {
    let visitor: string;
    beforeAll(async () => {
      visitor = await startVisitor(shopBot.publicKey);
    });

    it.each([
      ['empty text', 'visitor', { text: '' }, 'BAD_USER_INPUT'],
      ['whitespace-only text', 'visitor', { text: ' \n\t ' }, 'BAD_USER_INPUT'],
      ['4,001 characters of text', 'visitor', { text: 'x'.repeat(4001) }, 'BAD_USER_INPUT'],
      ['a 101-character clientMessageId', 'visitor', { clientMessageId: 'c'.repeat(101) }, 'BAD_USER_INPUT'],
      ['a malformed botId', 'owner', { botId: 'bot-1' }, 'BAD_USER_INPUT'],
      ['a malformed botId from a visitor', 'visitor', { botId: 'bot-1' }, 'BAD_USER_INPUT'],
      ['an unknown botId', 'owner', { botId: UNKNOWN_ID }, 'NOT_FOUND'],
      ['no token', 'nobody', {}, 'UNAUTHENTICATED'],
      ['an unknown token', 'bad-token', {}, 'UNAUTHENTICATED'],
    ])('rejects %s and stores nothing', async (_case, who, override, code) => {
      const token = { visitor, owner: owner.token, nobody: undefined, 'bad-token': 'not-a-token' }[who];
      const before = await rowCounts();
      const response = await send(token, { botId: shopBot.id, text: 'Hello', ...override });
      expect(errorCode(response)).toBe(code);
      expect(response.data).toEqual({ sendMessage: null });
      expect(await rowCounts()).toEqual(before);
    });

    it.each([
      ['letters', 'y'],
      // 8,000 UTF-16 units: the limit counts characters as people do.
      ['emoji', '😀'],
    ])('accepts exactly 4,000 characters (%s)', async (_case, char) => {
      const text = char.repeat(4000);
      const sent = await sendOk(visitor, { botId: shopBot.id, text });
      expect(sent.message.content).toBe(text);
      const row = await app.deps.db('messages').where({ id: sent.message.id }).first('content');
      expect(row.content).toBe(text);
      expect(errorCode(await send(visitor, { botId: shopBot.id, text: text + char }))).toBe('BAD_USER_INPUT');
    });
  });

  describe('clientMessageId', () => {
    const storedWith = (clientMessageId: string) =>
      app.deps.db('messages').where({ client_message_id: clientMessageId, role: 'USER' });

    it('stores a retried send once and answers it like the first', async () => {
      const visitor = await startVisitor(shopBot.publicKey);
      const input = { botId: shopBot.id, text: 'Do you sell whole beans?', clientMessageId: 'retry-1' };
      const first = await sendOk(visitor, input);
      const before = await rowCounts();
      const retry = await sendOk(visitor, input);
      expect(retry.conversationId).toBe(first.conversationId);
      expect(retry.message.id).toBe(first.message.id);
      expect(retry.reply.id).toBe(first.reply.id);
      expect(await rowCounts()).toEqual(before);
      expect(await storedWith('retry-1')).toHaveLength(1);
    });

    it('stores concurrent sends with the same clientMessageId once', async () => {
      const visitor = await startVisitor(shopBot.publicKey);
      const before = await rowCounts();
      const input = { botId: shopBot.id, text: 'Is the decaf any good?', clientMessageId: 'race-1' };
      // Hold each send at the insert until all three are there, so that none can see
      // another's committed row first: only the unique index can settle the race.
      const { messages } = app.deps.repos;
      const barrier = createBarrier(3);
      // Where the race is settled: the write buffer's push (SET NX in Redis), or the insert (the unique index).
      const { buffer } = app.deps;
      let spy: { mockRestore(): void };
      if (buffer) {
        const push = buffer.push.bind(buffer);
        spy = jest.spyOn(buffer, 'push').mockImplementation(async (intent) => {
          if (intent.message.clientMessageId === 'race-1') await barrier.wait();
          return push(intent);
        });
      } else {
        const persistExchanges = messages.persistExchanges.bind(messages);
        spy = jest.spyOn(messages, 'persistExchanges').mockImplementation(async (exchanges, executor) => {
          if (exchanges.some((exchange) => exchange.message.clientMessageId === 'race-1')) await barrier.wait();
          return persistExchanges(exchanges, executor);
        });
      }
      let answers: Awaited<ReturnType<typeof sendOk>>[];
      try {
        answers = await Promise.all([sendOk(visitor, input), sendOk(visitor, input), sendOk(visitor, input)]);
      } finally {
        spy.mockRestore();
      }
      expect(barrier.arrived).toBe(3);
      const [a, b, c] = answers;
      // Each send made its own conversation and message ids; the two that lost get the winner's
      // (stored by the time they answer, or still queued: the status may differ).
      expect(withoutStatus(b)).toEqual(withoutStatus(a));
      expect(withoutStatus(c)).toEqual(withoutStatus(a));
      expect(a.message).toMatchObject({ content: 'Is the decaf any good?', status: sentStatus() });

      const stored = await storedWith('race-1');
      expect(stored).toHaveLength(1);
      expect(stored[0].id).toBe(a.message.id);
      expect(await app.deps.db('messages').where({ reply_to: a.message.id })).toHaveLength(1);
      expect(await rowCounts()).toEqual({ messages: before.messages + 2, conversations: before.conversations + 1 });
    });

    it('rejects a clientMessageId reused for a different text and stores nothing new', async () => {
      const visitor = await startVisitor(shopBot.publicKey);
      const first = await sendOk(visitor, {
        botId: shopBot.id,
        text: 'Do you roast on site?',
        clientMessageId: 'reuse-1',
      });
      const before = await rowCounts();
      for (const conversationId of [undefined, first.conversationId]) {
        const reused = await send(visitor, {
          botId: shopBot.id,
          conversationId,
          text: 'Do you deliver?',
          clientMessageId: 'reuse-1',
        });
        expect(errorCode(reused)).toBe('BAD_USER_INPUT');
        expect(reused.errors![0]!.extensions!.field).toBe('clientMessageId');
        expect(reused.data).toEqual({ sendMessage: null });
      }
      expect(await rowCounts()).toEqual(before);
      const stored = await storedWith('reuse-1');
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ id: first.message.id, content: 'Do you roast on site?' });
      expect(await app.deps.db('messages').where({ content: 'Do you deliver?' })).toHaveLength(0);
      // The same text under the same id is still an ordinary retry, answered as stored by now.
      const retry = await sendOk(visitor, {
        botId: shopBot.id,
        text: 'Do you roast on site?',
        clientMessageId: 'reuse-1',
      });
      expect(withoutStatus(retry)).toEqual(withoutStatus(first));
      expect(retry.message.status).toBe('PERSISTED');
    });

    it('scopes clientMessageId to the sender', async () => {
      const [alice, bob] = await Promise.all([startVisitor(shopBot.publicKey), startVisitor(shopBot.publicKey)]);
      const input = { botId: shopBot.id, text: 'Hello there', clientMessageId: 'shared-1' };
      const fromAlice = await sendOk(alice, input);
      const fromBob = await sendOk(bob, input);
      expect(fromBob.message.id).not.toBe(fromAlice.message.id);
      expect(fromBob.conversationId).not.toBe(fromAlice.conversationId);
      expect(await storedWith('shared-1')).toHaveLength(2);
      // Bob's copy is his: Alice cannot read it.
      expect(errorCode(await app.gql(CONVERSATION, { id: fromBob.conversationId }, alice))).toBe('FORBIDDEN');
    });
  });

  describe('messageStatuses', () => {
    let visitor: string;
    let sent: { conversationId: string; message: { id: string }; reply: { id: string } };
    beforeAll(async () => {
      visitor = await startVisitor(shopBot.publicKey);
      sent = await sendOk(visitor, { botId: shopBot.id, text: 'How much is a bag of beans?' });
    });

    it("returns the viewer's messages as PERSISTED, in the order asked", async () => {
      const response = await app.gql(MESSAGE_STATUSES, { ids: [sent.reply.id, sent.message.id] }, visitor);
      expect(response.errors).toBeUndefined();
      expect(response.data!.messageStatuses).toEqual([
        { messageId: sent.reply.id, conversationId: sent.conversationId, status: 'PERSISTED', error: null },
        { messageId: sent.message.id, conversationId: sent.conversationId, status: 'PERSISTED', error: null },
      ]);
    });

    it("leaves out unknown ids and other people's messages", async () => {
      const stranger = await startVisitor(shopBot.publicKey);
      const own = await sendOk(stranger, { botId: shopBot.id, text: 'Any oat milk?' });
      const ids = [sent.message.id, UNKNOWN_ID, own.message.id];
      const response = await app.gql(MESSAGE_STATUSES, { ids }, stranger);
      expect(response.errors).toBeUndefined();
      expect(response.data!.messageStatuses.map((e: { messageId: string }) => e.messageId)).toEqual([own.message.id]);

      const other = await app.gql(MESSAGE_STATUSES, { ids }, otherOwner.token);
      expect(other.data!.messageStatuses).toEqual([]);
    });

    it('rejects malformed ids and more than 100 ids', async () => {
      const malformed = await app.gql(MESSAGE_STATUSES, { ids: [sent.message.id, 'nope'] }, visitor);
      expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
      expect(malformed.errors![0]!.extensions!.field).toBe('ids');

      const tooMany = await app.gql(MESSAGE_STATUSES, { ids: Array(101).fill(sent.message.id) }, visitor);
      expect(errorCode(tooMany)).toBe('BAD_USER_INPUT');
      const hundred = await app.gql(MESSAGE_STATUSES, { ids: Array(100).fill(sent.message.id) }, visitor);
      expect(hundred.data!.messageStatuses).toHaveLength(1);
    });

    it('requires a token', async () => {
      expect(errorCode(await app.gql(MESSAGE_STATUSES, { ids: [sent.message.id] }))).toBe('UNAUTHENTICATED');
    });
  });
});
