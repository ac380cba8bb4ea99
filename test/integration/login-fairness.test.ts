import { holdLibuvPool, type LibuvPoolHold } from '../helpers/libuv-pool';
import { eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const LOG_IN = `mutation($email: String!, $password: String!) { logIn(email: $email, password: $password) { token } }`;
const FLOODER = '203.0.113.7';
const OTHER = '198.51.100.9';

interface Answer {
  status: number;
  retryAfter: string | null;
  code?: string;
  token?: string;
}

/**
 * Issue 15, row 5: one address's burst of wrong-password log-ins made everyone else's log-in
 * (and `GET /widget.js`) wait tens of seconds. Password hashes now go through a queue that is
 * fair between addresses, on threads of their own. Real scrypt throughout: the order of turns
 * is made certain by holding the queue's one place, not by timing.
 */
describe('log-in under a flood from one address', () => {
  let app: TestApp;
  let owner: { email: string };
  let hold: LibuvPoolHold | undefined;
  beforeAll(async () => {
    // The limiter stays off (as startTestApp has it): it is the queue that is tested here.
    app = await startTestApp({
      // Requests name their client in X-Forwarded-For, as from behind a proxy on loopback.
      TRUSTED_PROXIES: '127.0.0.1',
      PASSWORD_HASH_CONCURRENCY: '1',
      PASSWORD_HASH_MAX_PER_ADDRESS: '3',
      PASSWORD_HASH_MAX_WAITING: '32',
    });
    owner = await signUpOwner(app, 'flooded');
  });
  afterEach(async () => {
    await hold?.release();
    hold = undefined;
  });
  afterAll(() => app.close());
  // Real scrypt (most of a second per hash, several on a busy machine): the tests below allow for it.

  async function logIn(from: string, email: string, password: string): Promise<Answer> {
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
      body: JSON.stringify({ query: LOG_IN, variables: { email, password } }),
    });
    const body = (await response.json()) as {
      data?: { logIn: { token: string } | null };
      errors?: { extensions?: { code?: string } }[];
    };
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      code: body.errors?.[0]?.extensions?.code,
      token: body.data?.logIn?.token,
    };
  }

  it("hashes another address's log-in next, and refuses the flood beyond its share at once with 503", async () => {
    const queue = app.deps.passwordHashing.queue;
    const starts: string[] = [];
    queue.onStart((address) => starts.push(address));

    // The one hashing place is taken until the test lets go, so nothing the flood sends can
    // finish, and the order in which the waiting hashes start is the queue's choice alone.
    let letGo!: () => void;
    const blocker = queue.run('test-blocker', () => new Promise<void>((resolve) => (letGo = resolve)));

    let answered = 0;
    const flood = Array.from({ length: 6 }, () =>
      logIn(FLOODER, owner.email, 'not the password').finally(() => answered++),
    );
    // Its share (3) waits; the other 3 are refused without waiting for any hash.
    await eventually(async () => queue.held(FLOODER).waiting === 3 && answered === 3);
    expect(queue.stats().refused).toEqual({ key_share: 3, queue_full: 0 });

    const other = logIn(OTHER, owner.email, 'correct horse battery');
    await eventually(async () => queue.held(OTHER).waiting === 1);
    letGo();
    await blocker;

    const answers = await Promise.all(flood);
    const refused = answers.filter((answer) => answer.code === 'OVERLOADED');
    expect(refused).toHaveLength(3);
    for (const answer of refused) expect(answer).toMatchObject({ status: 503, retryAfter: '1' });
    expect(answers.filter((answer) => answer.code === 'UNAUTHENTICATED')).toHaveLength(3);
    expect((await other).token).toEqual(expect.any(String));
    // First came the flood's first waiting hash, then the other address: second, not fourth in line.
    expect(starts).toEqual(['test-blocker', FLOODER, OTHER, FLOODER, FLOODER]);
    expect(queue.stats()).toMatchObject({ running: 0, waiting: 0 });
  }, 120_000);

  it('logs in while every libuv thread is held: hashing does not need them', async () => {
    hold = holdLibuvPool();
    const answer = await logIn(OTHER, owner.email, 'correct horse battery');
    expect(answer.token).toEqual(expect.any(String));
  }, 60_000);
});
