import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResponseCache } from '../cache/response-cache';
import { resolveViewer, type ViewerResolution } from '../graphql/request-context';
import { responseCacheKey, scopeOf } from '../graphql/response-cache-plugin';
import type { SessionService } from '../sessions/session-service';

/** What Apollo answers a single result with when the client accepts JSON. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** Accept headers Apollo answers with plain JSON; any other is left to its negotiation. */
const PLAIN_JSON_ACCEPTS = new Set(['', '*/*', 'application/json']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The viewer the fast path resolved, so that Apollo's context on a miss does not resolve it again. */
    viewerResolution: ViewerResolution | null;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The response cache's fast path: a `POST /graphql` whose result the cache holds (stored by
 * the response-cache plugin for the same viewer, operation text, name and variables) is
 * answered here, before Apollo builds a context, parses, validates or serializes anything.
 *
 * It answers only what Apollo would answer the same way: a JSON POST (no CSRF question) of one
 * operation with its text (not a persisted query, whose hash Apollo checks), accepting plain
 * JSON. Everything else, and every miss, goes on to Apollo, whose plugin answers hits the same.
 * An entry exists only for a query that ran without errors for this very key, so its limits
 * (depth, cost, rate limits on its fields) let it through then and would now.
 */
export function createCachedResponses(deps: {
  cache: ResponseCache;
  sessions: Pick<SessionService, 'resolve'>;
}): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const { cache } = deps;
  return async (request, reply) => {
    if (request.method !== 'POST' || !cache.usable()) return undefined;
    if (!request.headers['content-type']?.startsWith('application/json')) return undefined;
    if (!PLAIN_JSON_ACCEPTS.has(request.headers.accept ?? '')) return undefined;
    const body = request.body;
    if (!isRecord(body) || typeof body.query !== 'string' || body.extensions !== undefined) return undefined;
    const { operationName, variables } = body;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
    if (variables !== undefined && variables !== null && !isRecord(variables)) return undefined;
    try {
      request.viewerResolution = await resolveViewer(deps, request.headers.authorization);
    } catch {
      // Apollo's context makes the same look-up and answers its failure.
      return undefined;
    }
    const { viewer, tokenRejected } = request.viewerResolution;
    const key = responseCacheKey(
      scopeOf(viewer, tokenRejected),
      body.query,
      operationName ?? undefined,
      variables ?? undefined,
    );
    const json = key === undefined ? undefined : cache.get(key);
    if (json === undefined) return undefined;
    request.graphqlOperation = { operation_type: 'query', outcome: 'ok' };
    return reply.header('content-type', JSON_CONTENT_TYPE).send(`${json}\n`);
  };
}
