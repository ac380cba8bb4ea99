import { createHash } from 'node:crypto';
import { sessionBackdoor } from '../helpers/sessions';
import { errorCode, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { token expiresAt user { id email name plan createdAt } } }`;
const LOG_IN = `mutation($email: String!, $password: String!) { logIn(email: $email, password: $password) { token expiresAt user { id email } } }`;
const ME = `{ me { id email name plan } }`;

describe('auth', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  const userCount = async () => Number((await app.deps.db('users').count({ n: '*' }))[0]?.n);

  /**
   * The session is found under SHA-256(token) in hex (the row's token_hash, or the Redis
   * key), and the token appears in no form in what is stored.
   */
  function expectStoredAsHash(row: Record<string, unknown>, token: string): void {
    if ('token_hash' in row) expect(row.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    else expect(row.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    const raw = Buffer.from(token, 'base64url');
    for (const form of [token, raw.toString('hex'), raw.toString('base64')]) {
      for (const value of Object.values(row)) expect(String(value)).not.toContain(form);
    }
  }

  it('signs up, stores only hashes, and answers `me` with the token', async () => {
    const response = await app.gql(SIGN_UP, {
      input: { email: ' Ada@Example.com ', password: 'analytical engine', name: 'Ada' },
    });
    expect(response.errors).toBeUndefined();
    const { token, expiresAt, user } = response.data!.signUp;
    expect(user).toMatchObject({ email: 'ada@example.com', name: 'Ada', plan: 'FREE' });
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    const ttlHours = (Date.parse(expiresAt) - Date.now()) / 3_600_000;
    expect(ttlHours).toBeGreaterThan(23.9);
    expect(ttlHours).toBeLessThanOrEqual(24);

    const row = await app.deps.db('users').where({ id: user.id }).first();
    expect(row.password_hash).toMatch(/^scrypt\$N=131072,r=8,p=1\$/);
    expect(row.password_hash).not.toContain('analytical engine');
    const stored = await sessionBackdoor(app).stored(createHash('sha256').update(token).digest('hex'));
    expect(stored).toMatchObject({ kind: 'USER' });
    expectStoredAsHash(stored!, token);

    const me = await app.gql(ME, {}, token);
    expect(me.data!.me).toMatchObject({ id: user.id, email: 'ada@example.com' });
  });

  it('logs in with any case of the e-mail, and logOut ends only that session', async () => {
    const owner = await signUpOwner(app, 'login');
    const first = await app.gql(LOG_IN, { email: owner.email.toUpperCase(), password: 'correct horse battery' });
    expect(first.errors).toBeUndefined();
    const token = first.data!.logIn.token;
    expect(token).not.toBe(owner.token);

    const out = await app.gql(`mutation { logOut }`, {}, token);
    expect(out.data).toEqual({ logOut: true });

    const afterLogOut = await app.gql(ME, {}, token);
    expect(errorCode(afterLogOut)).toBe('UNAUTHENTICATED');
    expect(afterLogOut.errors![0]!.message).toMatch(/log in again/);
    // The sign-up session is still alive.
    expect((await app.gql(ME, {}, owner.token)).data!.me.id).toBe(owner.userId);
  });

  it('answers a wrong password and an unknown e-mail alike', async () => {
    const owner = await signUpOwner(app, 'wrongpw');
    const wrong = await app.gql(LOG_IN, { email: owner.email, password: 'not the password' });
    const unknown = await app.gql(LOG_IN, { email: 'nobody@example.com', password: 'whatever123' });
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    expect(wrong.errors![0]!.message).toBe(unknown.errors![0]!.message);
    expect(wrong.data).toEqual({ logIn: null });
  });

  it('gives `me` null without a token and UNAUTHENTICATED for a bad one', async () => {
    expect((await app.gql(ME)).data).toEqual({ me: null });
    expect(errorCode(await app.gql(ME, {}, 'not-a-real-token'))).toBe('UNAUTHENTICATED');
    const malformed = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic abc' },
      body: JSON.stringify({ query: ME }),
    });
    expect(((await malformed.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(errorCode(await app.gql(`mutation { logOut }`))).toBe('UNAUTHENTICATED');
  });

  it('rejects an expired session', async () => {
    const owner = await signUpOwner(app, 'expired');
    await sessionBackdoor(app).expire(createHash('sha256').update(owner.token).digest('hex'));
    expect(errorCode(await app.gql(ME, {}, owner.token))).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['a duplicate e-mail', { email: 'dup@example.com', password: 'long enough pw' }, 'email'],
    ['a weak password', { email: 'weak@example.com', password: 'short' }, 'password'],
    ['a malformed e-mail', { email: 'not-an-email', password: 'long enough pw' }, 'email'],
    ['an empty e-mail', { email: '', password: 'long enough pw' }, 'email'],
  ])('rejects %s with BAD_USER_INPUT and creates no user', async (_case, input, field) => {
    await app.gql(SIGN_UP, { input: { email: 'dup@example.com', password: 'long enough pw' } });
    const before = await userCount();
    const response = await app.gql(SIGN_UP, { input });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.extensions!.field).toBe(field);
    expect(response.data).toEqual({ signUp: null });
    expect(await userCount()).toBe(before);
  });

  it('treats a widget visitor token as no owner', async () => {
    const owner = await signUpOwner(app, 'visitor-me');
    const bot = await app.gql(`mutation { createBot(input: { name: "B" }) { publicKey } }`, {}, owner.token);
    const session = await app.gql(`mutation($k: String!) { startWidgetSession(publicKey: $k) { token } }`, {
      k: bot.data!.createBot.publicKey,
    });
    const visitorToken = session.data!.startWidgetSession.token;
    expect((await app.gql(ME, {}, visitorToken)).data).toEqual({ me: null });
    expect(errorCode(await app.gql(`{ bots { id } }`, {}, visitorToken))).toBe('FORBIDDEN');
  });
});
