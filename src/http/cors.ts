import type { FastifyInstance } from 'fastify';

/** Request headers a page may send cross-origin (beyond the CORS-safelisted ones). */
const ALLOWED_HEADERS = 'content-type, authorization, apollo-require-preflight, x-request-id';
/** Response headers a page's script may read. */
const EXPOSED_HEADERS = 'x-request-id, retry-after, ratelimit, ratelimit-policy';
const ALLOWED_METHODS = 'GET, POST, OPTIONS';
/** How long a browser may reuse a preflight's answer. */
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/**
 * CORS for any origin. The widget runs on customers' sites; tokens travel in a header, never in
 * cookies, so allowing any origin exposes nothing a page could not already send.
 *
 * Written here rather than through @fastify/cors, which runs its hook (an options copy, headers
 * on every reply) for every request: only browsers speak CORS, and a browser always sends
 * `Origin` on a cross-origin request, so a request without one (servers, the load balancer's
 * probes, most API clients) gets nothing added. A preflight (`OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`) is answered 204 here, before any other hook; an `OPTIONS`
 * that is not one goes on to routing (404).
 */
export function registerCors(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.headers.origin === undefined) return done();
    reply.header('access-control-allow-origin', '*');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      reply
        .code(204)
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS)
        .header('content-length', '0')
        .send();
      return;
    }
    reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    done();
  });
}
