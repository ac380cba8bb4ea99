import { createRequestContext } from '../../src/graphql/request-context';
import { signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/** What the transports hand to every resolver, upload and subscription: viewer, plan, client IP. */
describe('createRequestContext', () => {
  let app: TestApp;
  beforeAll(async () => {
    // PostgreSQL sessions read the plan on every request; a Redis session keeps the plan it started with.
    app = await startTestApp({ REDIS_ENABLED: 'false' });
  });
  afterAll(() => app.close());

  const contextFor = (token?: string) =>
    createRequestContext(app.deps, {
      requestId: 'test-request-0001',
      authorization: token === undefined ? undefined : `Bearer ${token}`,
      clientIp: '203.0.113.9',
    });

  it('carries the viewer with the plan read from the account, and the client address', async () => {
    const owner = await signUpOwner(app, 'plan');
    const free = await contextFor(owner.token);
    expect(free.viewer).toMatchObject({ kind: 'USER', userId: owner.userId, plan: 'FREE' });
    expect(free.clientIp).toBe('203.0.113.9');

    await app.deps.db('users').where({ id: owner.userId }).update({ plan: 'ENTERPRISE' });
    // Read with the session on every request: a change of plan applies at once.
    expect((await contextFor(owner.token)).viewer).toMatchObject({ kind: 'USER', plan: 'ENTERPRISE' });
  });

  it('is anonymous without a token, and marks a bad token as rejected', async () => {
    expect((await contextFor()).viewer).toEqual({ kind: 'ANONYMOUS' });
    const rejected = await contextFor('not-a-token');
    expect(rejected.viewer).toEqual({ kind: 'ANONYMOUS' });
    expect(rejected.access.tokenRejected).toBe(true);
    const huge = await createRequestContext(app.deps, {
      requestId: 'test-request-0002',
      authorization: `Bearer ${'x'.repeat(100_000)}`,
      clientIp: '127.0.0.1',
    });
    expect(huge.access.tokenRejected).toBe(true);
  });

  it('makes no service when Apollo copies it, and shares the ones made with the copy', async () => {
    const owner = await signUpOwner(app, 'copied');
    const context = await contextFor(owner.token);
    // What Apollo does with the context of every operation (cloneObject in ApolloServer.ts).
    const copy = Object.assign(Object.create(Object.getPrototypeOf(context)), context) as typeof context;
    // Had the copy run the chat getter, the response would be marked uncacheable.
    expect(context.reads.cacheable).toBe(true);
    expect(copy.search).toBe(context.search);
    expect(copy.chat).toBe(context.chat);
    expect(context.reads.cacheable).toBe(false);
    expect(copy.reads).toBe(context.reads);
  });
});
