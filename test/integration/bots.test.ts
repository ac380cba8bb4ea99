import { createBot, errorCode, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const BOT_FIELDS = `id name description instructions publicKey createdAt updatedAt owner { id email } sources { id }`;
const UNKNOWN_ID = '01930000-0000-7000-8000-000000000000';
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { conversationId } }`;

describe('bots', () => {
  let app: TestApp;
  let alice: { token: string; userId: string; email: string };
  let bob: { token: string; userId: string };

  beforeAll(async () => {
    app = await startTestApp();
    [alice, bob] = await Promise.all([signUpOwner(app, 'alice'), signUpOwner(app, 'bob')]);
  });
  afterAll(() => app.close());

  const botCount = async () => Number((await app.deps.db('bots').count({ n: '*' }))[0]?.n);

  it('creates, reads, updates and deletes a bot', async () => {
    const created = await app.gql(
      `mutation($input: CreateBotInput!) { createBot(input: $input) { ${BOT_FIELDS} } }`,
      { input: { name: '  Support  ', description: 'Answers questions', instructions: 'Be nice' } },
      alice.token,
    );
    expect(created.errors).toBeUndefined();
    const bot = created.data!.createBot;
    expect(bot).toMatchObject({
      name: 'Support',
      description: 'Answers questions',
      instructions: 'Be nice',
      owner: { id: alice.userId, email: alice.email },
      sources: [],
    });
    expect(bot.publicKey).toMatch(/^pk_[A-Za-z0-9_-]{24}$/);

    const read = await app.gql(`query($id: ID!) { bot(id: $id) { ${BOT_FIELDS} } }`, { id: bot.id }, alice.token);
    expect(read.data!.bot).toEqual(bot);

    const updated = await app.gql(
      `mutation($id: ID!, $input: UpdateBotInput!) { updateBot(id: $id, input: $input) { name description instructions updatedAt } }`,
      { id: bot.id, input: { name: 'Helpdesk', description: null } },
      alice.token,
    );
    expect(updated.data!.updateBot).toMatchObject({ name: 'Helpdesk', description: null, instructions: 'Be nice' });
    expect(Date.parse(updated.data!.updateBot.updatedAt)).toBeGreaterThan(Date.parse(bot.updatedAt));

    const deleted = await app.gql(`mutation($id: ID!) { deleteBot(id: $id) }`, { id: bot.id }, alice.token);
    expect(deleted.data).toEqual({ deleteBot: true });
    expect(errorCode(await app.gql(`query($id: ID!) { bot(id: $id) { id } }`, { id: bot.id }, alice.token))).toBe(
      'NOT_FOUND',
    );
  });

  it('gives every bot its own public key', async () => {
    const keys = await Promise.all([1, 2, 3].map(async () => (await createBot(app, alice.token)).publicKey));
    expect(new Set(keys).size).toBe(3);
  });

  it('pages through the viewer’s bots only, oldest first', async () => {
    const owner = await signUpOwner(app, 'pager');
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three', 'four', 'five']) ids.push((await createBot(app, owner.token, name)).id);
    await createBot(app, bob.token, 'not mine');

    const page1 = await app.gql(`{ bots(first: 2) { id name } }`, {}, owner.token);
    expect(page1.data!.bots.map((b: { name: string }) => b.name)).toEqual(['one', 'two']);
    const page2 = await app.gql(
      `query($after: String) { bots(first: 2, after: $after) { name } }`,
      { after: ids[1] },
      owner.token,
    );
    expect(page2.data!.bots.map((b: { name: string }) => b.name)).toEqual(['three', 'four']);
    const all = await app.gql(`{ bots { name } }`, {}, owner.token);
    expect(all.data!.bots).toHaveLength(5);

    expect(errorCode(await app.gql(`{ bots(first: 0) { id } }`, {}, owner.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await app.gql(`{ bots(first: 101) { id } }`, {}, owner.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await app.gql(`{ bots(after: "garbage") { id } }`, {}, owner.token))).toBe('BAD_USER_INPUT');
  });

  it('keeps other owners out of a bot', async () => {
    const bot = await createBot(app, alice.token, 'private');
    const attempts = [
      app.gql(`query($id: ID!) { bot(id: $id) { id } }`, { id: bot.id }, bob.token),
      app.gql(
        `mutation($id: ID!) { updateBot(id: $id, input: { name: "hijacked" }) { id } }`,
        { id: bot.id },
        bob.token,
      ),
      app.gql(`mutation($id: ID!) { deleteBot(id: $id) }`, { id: bot.id }, bob.token),
      app.gql(`query($id: ID!) { search(botId: $id, query: "anything") { content } }`, { id: bot.id }, bob.token),
      app.gql(
        `mutation($id: ID!) { createSource(input: { botId: $id, kind: TEXT, title: "x", text: "y" }) { id } }`,
        { id: bot.id },
        bob.token,
      ),
      app.gql(
        `mutation($id: ID!) { sendMessage(input: { botId: $id, text: "hi" }) { conversationId } }`,
        { id: bot.id },
        bob.token,
      ),
    ];
    for (const response of await Promise.all(attempts)) expect(errorCode(response)).toBe('FORBIDDEN');
    const row = await app.deps.db('bots').where({ id: bot.id }).first();
    expect(row.name).toBe('private');
    expect(await app.deps.db('sources').where({ bot_id: bot.id })).toHaveLength(0);
    expect(await app.deps.db('messages').where({ bot_id: bot.id })).toHaveLength(0);
  });

  it.each([
    ['unknown', UNKNOWN_ID, 'NOT_FOUND'],
    ['malformed', 'bot-42', 'BAD_USER_INPUT'],
  ])('answers a %s id (%s) with %s', async (_case, id, code) => {
    for (const query of [
      `query($id: ID!) { bot(id: $id) { id } }`,
      `mutation($id: ID!) { updateBot(id: $id, input: { name: "x" }) { id } }`,
      `mutation($id: ID!) { deleteBot(id: $id) }`,
    ]) {
      expect(errorCode(await app.gql(query, { id }, alice.token))).toBe(code);
    }
  });

  it.each([
    ['an empty name', { name: '   ' }, 'name'],
    ['a name over 100 characters', { name: 'x'.repeat(101) }, 'name'],
    ['a description over 1,000 characters', { name: 'ok', description: 'd'.repeat(1001) }, 'description'],
    ['instructions over 4,000 characters', { name: 'ok', instructions: 'i'.repeat(4001) }, 'instructions'],
  ])('rejects %s and creates nothing', async (_case, input, field) => {
    const before = await botCount();
    const response = await app.gql(
      `mutation($input: CreateBotInput!) { createBot(input: $input) { id } }`,
      { input },
      alice.token,
    );
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.extensions!.field).toBe(field);
    expect(await botCount()).toBe(before);
  });

  it('rejects clearing the name and leaves the bot as it was', async () => {
    const bot = await createBot(app, alice.token, 'keep me');
    const response = await app.gql(
      `mutation($id: ID!) { updateBot(id: $id, input: { name: null, description: "new" }) { id } }`,
      { id: bot.id },
      alice.token,
    );
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await app.deps.db('bots').where({ id: bot.id }).first()).toMatchObject({
      name: 'keep me',
      description: null,
    });
  });

  it('requires a signed-in owner', async () => {
    expect(errorCode(await app.gql(`{ bots { id } }`))).toBe('UNAUTHENTICATED');
    expect(errorCode(await app.gql(`mutation { createBot(input: { name: "x" }) { id } }`))).toBe('UNAUTHENTICATED');
  });

  it('deletes a bot with its sources, chunks, conversations, messages and visitor sessions', async () => {
    const bot = await createBot(app, alice.token, 'doomed');
    // A bystander bot of the same owner, set up the same way: the delete must leave it whole.
    const kept = await createBot(app, alice.token, 'bystander');

    const setUp = async (botId: string, publicKey: string) => {
      const source = await app.gql(
        `mutation($id: ID!) { createSource(input: { botId: $id, kind: TEXT, title: "t", text: "Refunds take five days." }) { id } }`,
        { id: botId },
        alice.token,
      );
      expect(source.errors).toBeUndefined();
      const ownerChat = await app.gql(SEND, { input: { botId, text: 'hello' } }, alice.token);
      expect(ownerChat.errors).toBeUndefined();
      const widget = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
        k: publicKey,
      });
      expect(widget.errors).toBeUndefined();
      const visitor: string = widget.data!.startWidgetSession.token;
      const visitorChat = await app.gql(SEND, { input: { botId, text: 'how long do refunds take?' } }, visitor);
      expect(visitorChat.errors).toBeUndefined();
      return { sourceId: source.data!.createSource.id as string, visitor };
    };
    const doomed = await setUp(bot.id, bot.publicKey);
    const bystander = await setUp(kept.id, kept.publicKey);

    app.startWorker();
    for (const { sourceId } of [doomed, bystander]) {
      const status = await eventually(async () => {
        const response = await app.gql(`query($id: ID!) { source(id: $id) { status } }`, { id: sourceId }, alice.token);
        const current = response.data?.source?.status;
        return current === 'READY' || current === 'FAILED' ? current : undefined;
      });
      expect(status).toBe('READY');
    }

    const rowsOf = async (botId: string) => {
      const counts: Record<string, number> = {};
      // Redis keeps sessions outside PostgreSQL; the visitor's token is checked below either way.
      const tables = ['sources', 'source_chunks', 'conversations', 'messages'];
      if (!app.config.redis.enabled) tables.push('sessions');
      for (const table of tables) {
        counts[table] = Number((await app.deps.db(table).where({ bot_id: botId }).count({ n: '*' }))[0]?.n);
      }
      return counts;
    };
    const before = await rowsOf(bot.id);
    // One source with its chunks; the owner's and the visitor's conversations, two messages each.
    expect(before).toEqual({
      sources: 1,
      source_chunks: expect.any(Number),
      conversations: 2,
      messages: 4,
      ...(app.config.redis.enabled ? {} : { sessions: 1 }),
    });
    expect(before.source_chunks).toBeGreaterThan(0);
    const bystanderBefore = await rowsOf(kept.id);
    expect(bystanderBefore).toEqual(before);

    const deleted = await app.gql(`mutation($id: ID!) { deleteBot(id: $id) }`, { id: bot.id }, alice.token);
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data).toEqual({ deleteBot: true });

    expect(await rowsOf(bot.id)).toEqual({
      sources: 0,
      source_chunks: 0,
      conversations: 0,
      messages: 0,
      ...(app.config.redis.enabled ? {} : { sessions: 0 }),
    });
    expect(await rowsOf(kept.id)).toEqual(bystanderBefore);
    // The deleted bot's visitors are signed out; the owner and the other bot's visitors are not.
    expect(errorCode(await app.gql(SEND, { input: { botId: bot.id, text: 'still there?' } }, doomed.visitor))).toBe(
      'UNAUTHENTICATED',
    );
    expect((await app.gql(`{ me { id } }`, {}, alice.token)).data).toEqual({ me: { id: alice.userId } });
    const stillChatting = await app.gql(SEND, { input: { botId: kept.id, text: 'still there?' } }, bystander.visitor);
    expect(stillChatting.errors).toBeUndefined();
  });
});
