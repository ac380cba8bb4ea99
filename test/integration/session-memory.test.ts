import { hashToken } from '../../src/sessions/tokens';
import {
  createBot,
  errorCode,
  listenForInvalidations,
  signUpOwner,
  startAnotherInstance,
  startTestApp,
  type TestApp,
} from '../helpers/test-app';
const ME = '{ me { id } }';
const START_WIDGET = `mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`;
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { conversationId } }`;

describe('sessions held in each api’s memory (two instances, real Redis)', () => {
  let first: TestApp;
  let second: TestApp;
  /** Commands the session store sent to Redis: GETs of session keys, by instance. */
  const sessionGets = new Map<TestApp, number>();
  /** What each instance has heard invalidated (its own session ends included). */
  const listeners = new Map<TestApp, ReturnType<typeof listenForInvalidations>>();

  beforeAll(async () => {
    first = await startTestApp({ REDIS_ENABLED: 'true' });
    second = await startAnotherInstance(first);
    for (const app of [first, second]) {
      sessionGets.set(app, 0);
      listeners.set(app, listenForInvalidations(app));
      // Counts the session look-ups on the real connection; every call still goes to Redis.
      const redis = app.deps.clients.redis!;
      const get = redis.get.bind(redis);
      redis.get = ((key: string, ...rest: never[]) => {
        if (String(key).includes(':session:{')) sessionGets.set(app, sessionGets.get(app)! + 1);
        return get(key, ...rest);
      }) as typeof redis.get;
    }
  });
  afterAll(async () => {
    await second?.close().catch(() => undefined);
    await first?.close();
  });

  const sessionKey = (token: string) => first.deps.cache!.keys.session(hashToken(token));
  /** Waits until `app` has heard that the token's session ended: the event, not a delay. */
  const heard = (app: TestApp, token: string) => listeners.get(app)!.heard(sessionKey(token));

  it('asks Redis for a token once, then answers it from memory on every request', async () => {
    const owner = await signUpOwner(first, 'held');
    const before = sessionGets.get(second)!;
    for (let i = 0; i < 20; i++) expect((await second.gql(ME, {}, owner.token)).data!.me.id).toBe(owner.userId);
    expect(sessionGets.get(second)! - before).toBe(1);
  });

  it('refuses a token on every instance once its logOut is heard', async () => {
    const owner = await signUpOwner(first, 'logout');
    // Held by both instances.
    expect((await first.gql(ME, {}, owner.token)).data!.me.id).toBe(owner.userId);
    expect((await second.gql(ME, {}, owner.token)).data!.me.id).toBe(owner.userId);
    expect((await first.gql('mutation { logOut }', {}, owner.token)).data!.logOut).toBe(true);
    await heard(second, owner.token);
    expect(errorCode(await second.gql(ME, {}, owner.token))).toBe('UNAUTHENTICATED');
    expect(errorCode(await first.gql(ME, {}, owner.token))).toBe('UNAUTHENTICATED');
  });

  it('refuses every session of a user on every instance after logOutEverywhere', async () => {
    const owner = await signUpOwner(first, 'everywhere');
    const again = await first.gql(`mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }`, {
      e: owner.email,
      p: 'correct horse battery',
    });
    const tokens = [owner.token, again.data!.logIn.token as string];
    for (const token of tokens) expect((await second.gql(ME, {}, token)).data!.me.id).toBe(owner.userId);
    expect((await first.gql('mutation { logOutEverywhere }', {}, owner.token)).data!.logOutEverywhere).toBe(2);
    for (const token of tokens) {
      await heard(second, token);
      expect(errorCode(await second.gql(ME, {}, token))).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a visitor’s token on every instance once the bot is deleted', async () => {
    const owner = await signUpOwner(first, 'bot-owner');
    const bot = await createBot(first, owner.token, 'Short-lived');
    const visitor = (await first.gql(START_WIDGET, { k: bot.publicKey })).data!.startWidgetSession.token as string;
    const sent = await second.gql(SEND, { input: { botId: bot.id, text: 'Hi' } }, visitor);
    expect(sent.errors).toBeUndefined();
    const deleted = await first.gql(`mutation($id: ID!) { deleteBot(id: $id) }`, { id: bot.id }, owner.token);
    expect(deleted.errors).toBeUndefined();
    await heard(second, visitor);
    expect(errorCode(await second.gql(SEND, { input: { botId: bot.id, text: 'Still there?' } }, visitor))).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('asks Redis for every token while the invalidation channel is down, and holds none of them meanwhile', async () => {
    const owner = await signUpOwner(first, 'channel');
    await second.gql(ME, {}, owner.token);
    const subscriber = second.deps.clients.cacheSubscriber!;
    const closed = new Promise((resolve) => subscriber.once('close', resolve));
    // Only the channel goes; the sessions' Redis stays reachable.
    subscriber.disconnect(false);
    await closed;
    try {
      const before = sessionGets.get(second)!;
      for (let i = 0; i < 3; i++) expect((await second.gql(ME, {}, owner.token)).data!.me.id).toBe(owner.userId);
      expect(sessionGets.get(second)! - before).toBe(3);
    } finally {
      await subscriber.connect();
      await second.deps.cache!.entities.start();
    }
    // Back: asked once more, then held again.
    const before = sessionGets.get(second)!;
    for (let i = 0; i < 3; i++) await second.gql(ME, {}, owner.token);
    expect(sessionGets.get(second)! - before).toBe(1);
  });
});
