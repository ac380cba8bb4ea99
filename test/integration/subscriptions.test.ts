import type { FormattedExecutionResult } from 'graphql';
import type { Client } from 'graphql-ws';
import { createBot, signUpOwner, startTestApp, type TestApp, wsClient } from '../helpers/test-app';

const SEND_MESSAGE = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { conversationId message { id } reply { id } }
}`;
const STATUS_CHANGED = `subscription($conversationId: ID!) {
  messageStatusChanged(conversationId: $conversationId) { messageId conversationId status error }
}`;

const UNKNOWN_ID = '01890000-0000-7000-8000-000000000000';
/**
 * How long to wait for an event before failing: events arrive in milliseconds when they arrive
 * at all, and in well under this even on a busy machine.
 */
const EVENT_TIMEOUT_MILLIS = 20_000;

interface StatusEvent {
  messageId: string;
  conversationId: string;
  status: string;
  error: string | null;
}
type Result = FormattedExecutionResult<{ messageStatusChanged: StatusEvent }, unknown>;

describe('messageStatusChanged subscription', () => {
  let app: TestApp;
  let bot: { id: string; publicKey: string };
  const clients: Client[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    const owner = await signUpOwner(app, 'subs-owner');
    bot = await createBot(app, owner.token, 'Subscribed bot');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
  });
  afterAll(() => app.close());

  const connect = (authorization?: string): Client => {
    const client = wsClient(app, authorization === undefined ? {} : { authorization });
    clients.push(client);
    return client;
  };

  const startVisitor = async (): Promise<string> => {
    const response = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
      k: bot.publicKey,
    });
    return response.data!.startWidgetSession.token;
  };

  const send = async (token: string, text: string, conversationId?: string) => {
    const response = await app.gql(SEND_MESSAGE, { input: { botId: bot.id, text, conversationId } }, token);
    expect(response.errors).toBeUndefined();
    // With the write buffer on, a worker stores the send shortly after; snapshots below expect it stored.
    await app.drained();
    return response.data!.sendMessage as { conversationId: string; message: { id: string }; reply: { id: string } };
  };

  const subscribe = (client: Client, conversationId: string) =>
    client.iterate<Result['data']>({ query: STATUS_CHANGED, variables: { conversationId } });

  /** The next result of a subscription; fails instead of hanging when nothing comes. */
  const nextResult = async (subscription: AsyncIterator<Result>): Promise<IteratorResult<Result>> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no subscription event arrived')), EVENT_TIMEOUT_MILLIS);
    });
    try {
      return await Promise.race([subscription.next(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const nextEvents = async (subscription: AsyncIterator<Result>, count: number): Promise<StatusEvent[]> => {
    const events: StatusEvent[] = [];
    while (events.length < count) {
      const result = await nextResult(subscription);
      expect(result.done).toBe(false);
      expect(result.value.errors).toBeUndefined();
      const event = result.value.data!.messageStatusChanged;
      // With the write buffer on, each message is announced QUEUED before PERSISTED; these
      // tests are about which events reach whom, so they count the final ones.
      if (app.config.redis.enabled && event.status === 'QUEUED') continue;
      events.push(event);
    }
    return events;
  };

  const persisted = (conversationId: string, ...messageIds: string[]): StatusEvent[] =>
    messageIds.map((messageId) => ({ messageId, conversationId, status: 'PERSISTED', error: null }));

  /** The error a rejected subscription delivers, after which the subscription ends. */
  const rejection = async (subscription: AsyncIterator<Result>) => {
    const result = await nextResult(subscription);
    expect(result.done).toBe(false);
    expect(result.value.data ?? null).toBeNull();
    expect(await nextResult(subscription)).toEqual({ done: true, value: undefined });
    return result.value.errors?.[0];
  };

  it('emits the current status of recent messages, then live events for new ones', async () => {
    const visitor = await startVisitor();
    const first = await send(visitor, 'Hello');
    const subscription = subscribe(connect(`Bearer ${visitor}`), first.conversationId);

    expect(await nextEvents(subscription, 2)).toEqual(
      persisted(first.conversationId, first.message.id, first.reply.id),
    );

    const second = await send(visitor, 'Are you there?', first.conversationId);
    const live = await nextEvents(subscription, 2);
    // Both are published at once; their order on the wire is not part of the contract.
    expect(live).toHaveLength(2);
    expect(live).toEqual(expect.arrayContaining(persisted(first.conversationId, second.message.id, second.reply.id)));
  });

  it('delivers a message stored while the snapshot is being read', async () => {
    const visitor = await startVisitor();
    const first = await send(visitor, 'Hello');
    // A send that commits and publishes after the subscription read its snapshot, but
    // before the client got the snapshot, must still reach the client: either in the
    // snapshot or live. The spy only orders real calls; it changes no data.
    const { messages } = app.deps.repos;
    const listLast = messages.listLast.bind(messages);
    let racing: Promise<Awaited<ReturnType<typeof send>>> | undefined;
    const spy = jest.spyOn(messages, 'listLast').mockImplementationOnce(async (conversationId, last) => {
      const snapshot = await listLast(conversationId, last);
      racing = send(visitor, 'Sent during the snapshot', first.conversationId);
      await racing;
      return snapshot;
    });
    try {
      const subscription = subscribe(connect(`Bearer ${visitor}`), first.conversationId);
      const events = await nextEvents(subscription, 4);
      const second = await racing!;
      expect(events.slice(0, 2)).toEqual(persisted(first.conversationId, first.message.id, first.reply.id));
      expect(events.slice(2)).toEqual(
        expect.arrayContaining(persisted(first.conversationId, second.message.id, second.reply.id)),
      );
    } finally {
      spy.mockRestore();
    }
  });

  it('accepts a bare token in connectionParams.authorization', async () => {
    const visitor = await startVisitor();
    const sent = await send(visitor, 'Bare token please');
    const subscription = subscribe(connect(visitor), sent.conversationId);
    expect(await nextEvents(subscription, 2)).toEqual(persisted(sent.conversationId, sent.message.id, sent.reply.id));
  });

  it("never delivers another conversation's events, the subscriber's own or anyone else's", async () => {
    const [visitor, stranger] = await Promise.all([startVisitor(), startVisitor()]);
    const watched = await send(visitor, 'Watched conversation');
    const ownOther = await send(visitor, 'My other conversation');
    const strangers = await send(stranger, 'Somebody else entirely');
    const client = connect(`Bearer ${visitor}`);
    const subscription = subscribe(client, watched.conversationId);
    const otherSubscription = subscribe(client, ownOther.conversationId);
    expect(await nextEvents(subscription, 2)).toEqual(
      persisted(watched.conversationId, watched.message.id, watched.reply.id),
    );
    await nextEvents(otherSubscription, 2);

    // Events of the other conversations are published first: had any leaked, they would
    // arrive ahead of the watched conversation's own.
    const elsewhere = [
      await send(visitor, 'Still the other one', ownOther.conversationId),
      await send(stranger, 'Still somebody else', strangers.conversationId),
    ];
    const mine = await send(visitor, 'Back to the watched one', watched.conversationId);
    expect(await nextEvents(subscription, 2)).toEqual(
      expect.arrayContaining(persisted(watched.conversationId, mine.message.id, mine.reply.id)),
    );
    // The other conversation's events were published and delivered, just not here.
    expect(await nextEvents(otherSubscription, 2)).toEqual(
      expect.arrayContaining(persisted(ownOther.conversationId, elsewhere[0]!.message.id, elsewhere[0]!.reply.id)),
    );
    // Nothing else is on its way to the watched subscription.
    const stray = await Promise.race([
      subscription.next().then((result) => result.value?.data?.messageStatusChanged),
      new Promise((resolve) => setTimeout(() => resolve('nothing'), 300)),
    ]);
    expect(stray).toBe('nothing');
  });

  it("rejects another visitor's conversation with FORBIDDEN", async () => {
    const [alice, mallory] = await Promise.all([startVisitor(), startVisitor()]);
    const sent = await send(alice, 'Private matters');
    const error = await rejection(subscribe(connect(`Bearer ${mallory}`), sent.conversationId));
    expect(error?.extensions?.code).toBe('FORBIDDEN');
  });

  it('rejects a missing token with UNAUTHENTICATED, and closes a socket with an unknown one (4401)', async () => {
    const visitor = await startVisitor();
    const sent = await send(visitor, 'Who is listening?');
    const anonymous = await rejection(subscribe(connect(), sent.conversationId));
    expect(anonymous?.extensions?.code).toBe('UNAUTHENTICATED');
    const unknown: { code: number; reason: string } = await subscribe(
      connect('Bearer not-a-token'),
      sent.conversationId,
    )
      .next()
      .then(
        () => {
          throw new Error('an unknown token was accepted');
        },
        (closed: { code: number; reason: string }) => closed,
      );
    expect(unknown.code).toBe(4401);
    expect(unknown.reason).toMatch(/log in again/);
  });

  it('answers NOT_FOUND for an unknown conversation and BAD_USER_INPUT for a malformed id', async () => {
    const client = connect(`Bearer ${await startVisitor()}`);
    expect((await rejection(subscribe(client, UNKNOWN_ID)))?.extensions?.code).toBe('NOT_FOUND');
    expect((await rejection(subscribe(client, 'not-an-id')))?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('keeps delivering to other subscriptions after one unsubscribes', async () => {
    const visitor = await startVisitor();
    const first = await send(visitor, 'Hello');
    const client = connect(`Bearer ${visitor}`);
    const leaving = subscribe(client, first.conversationId);
    const staying = subscribe(client, first.conversationId);
    await nextEvents(leaving, 2);
    await nextEvents(staying, 2);

    await leaving.return!();
    expect(await leaving.next()).toEqual({ done: true, value: undefined });

    const second = await send(visitor, 'Still there?', first.conversationId);
    expect(await nextEvents(staying, 2)).toEqual(
      expect.arrayContaining(persisted(first.conversationId, second.message.id, second.reply.id)),
    );

    // A new subscription after the unsubscribe, on the same socket, gets the snapshot and live events.
    const again = subscribe(client, first.conversationId);
    expect(await nextEvents(again, 4)).toEqual(
      persisted(first.conversationId, first.message.id, first.reply.id, second.message.id, second.reply.id),
    );
    const third = await send(visitor, 'One more', first.conversationId);
    const live = await nextEvents(again, 2);
    expect(live).toEqual(expect.arrayContaining(persisted(first.conversationId, third.message.id, third.reply.id)));
    expect(await nextEvents(staying, 2)).toEqual(
      expect.arrayContaining(persisted(first.conversationId, third.message.id, third.reply.id)),
    );
  });

  it('stops events to a disposed client without affecting others', async () => {
    const visitor = await startVisitor();
    const first = await send(visitor, 'Hello');
    const leavingClient = connect(`Bearer ${visitor}`);
    const leaving = subscribe(leavingClient, first.conversationId);
    const staying = subscribe(connect(`Bearer ${visitor}`), first.conversationId);
    await nextEvents(leaving, 2);
    await nextEvents(staying, 2);

    await leavingClient.dispose();
    const second = await send(visitor, 'Anyone?', first.conversationId);
    expect(await nextEvents(staying, 2)).toEqual(
      expect.arrayContaining(persisted(first.conversationId, second.message.id, second.reply.id)),
    );
  });
});
