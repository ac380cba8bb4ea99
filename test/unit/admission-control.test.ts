import Fastify, { type FastifyInstance } from 'fastify';
import { registerAdmissionControl, type AdmissionControl } from '../../src/http/admission-control';

/** A server whose /graphql answers only when the test lets it, on a loopback port. */
async function serverWithHeldRequests(maxInFlight: number) {
  const fastify: FastifyInstance = Fastify();
  const admission: AdmissionControl = registerAdmissionControl(fastify, maxInFlight);
  const held: Array<() => void> = [];
  fastify.post('/graphql', async () => {
    await new Promise<void>((resolve) => held.push(resolve));
    return { data: { ok: true } };
  });
  fastify.get('/health/live', async () => ({ ok: true }));
  const url = await fastify.listen({ host: '127.0.0.1', port: 0 });
  const post = () =>
    fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  return { fastify, admission, held, url, post };
}

/** Waits for `check` to hold: up to 15 s or more, a deadline only a hang reaches, even on a busy machine. */
const until = async (check: () => boolean) => {
  for (let i = 0; i < 1500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(check()).toBe(true);
};

describe('admission control', () => {
  it('answers 503 OVERLOADED with Retry-After beyond the limit, and admits again once a place is free', async () => {
    const { fastify, admission, held, url, post } = await serverWithHeldRequests(2);
    try {
      const first = [post(), post()];
      await until(() => held.length === 2);
      expect(admission.inFlight()).toBe(2);

      const refused = await post();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      const body = (await refused.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(body.errors[0]?.extensions.code).toBe('OVERLOADED');
      expect(admission.refused()).toBe(1);
      // Health stays answerable while the API routes are full.
      expect((await fetch(`${url}/health/live`)).status).toBe(200);

      held.shift()?.();
      expect((await first[0])?.status).toBe(200);
      await until(() => admission.inFlight() === 1);
      const third = post();
      await until(() => held.length === 2);
      for (const release of held.splice(0)) release();
      expect((await third).status).toBe(200);
      expect((await first[1])?.status).toBe(200);
      await until(() => admission.inFlight() === 0);
    } finally {
      for (const release of held) release();
      await fastify.close();
    }
  });

  it('gives the place back when the client goes away before the answer', async () => {
    const { fastify, admission, held, url } = await serverWithHeldRequests(1);
    try {
      const abort = new AbortController();
      const gone = fetch(`${url}/graphql`, { method: 'POST', body: '{}', signal: abort.signal }).catch(() => 'aborted');
      await until(() => held.length === 1);
      abort.abort();
      expect(await gone).toBe('aborted');
      await until(() => admission.inFlight() === 0);
    } finally {
      for (const release of held) release();
      await fastify.close();
    }
  });

  it('limits nothing when the limit is 0', async () => {
    const { fastify, admission, held, post } = await serverWithHeldRequests(0);
    try {
      const answers = Array.from({ length: 5 }, post);
      await until(() => held.length === 5);
      for (const release of held.splice(0)) release();
      expect((await Promise.all(answers)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(admission.refused()).toBe(0);
    } finally {
      await fastify.close();
    }
  });
});
