import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { Kind, type DocumentNode, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import type { ResponseCache } from '../cache/response-cache';
import type { Viewer } from '../sessions/session-service';
import type { RequestContext } from './request-context';

/** Variables longer than this (as JSON) are not part of a cache key: such a request is not cached. */
const MAX_VARIABLES_CHARS = 2048;

/** Whom a result was computed for: the same operation answers differently per viewer (owner-only fields). */
export function scopeOf(viewer: Viewer, tokenRejected: boolean): string {
  if (viewer.kind === 'USER') return `user:${viewer.userId}`;
  if (viewer.kind === 'VISITOR') return `visitor:${viewer.botId}:${viewer.visitorId}`;
  return tokenRejected ? 'rejected' : 'anonymous';
}

/**
 * The key of a result: the viewer's scope, the operation's text and name, and its variables as
 * JSON (undefined when they are too long to be part of a key: such a request is not cached).
 * The text itself, not a hash of it: the HTTP fast path (src/http/cached-responses.ts) finds a
 * result before Apollo has parsed or hashed anything.
 */
export function responseCacheKey(
  scope: string,
  query: string,
  operationName: string | undefined,
  variables: Record<string, unknown> | undefined,
): string | undefined {
  const json = JSON.stringify(variables ?? {});
  return json.length > MAX_VARIABLES_CHARS ? undefined : `${scope}\n${operationName ?? ''}\n${json}\n${query}`;
}

/** The Query fields that carry `@rateLimit`: a cached answer would not be counted against the limits. */
function rateLimitedQueryFields(schema: GraphQLSchema): Set<string> {
  const fields = schema.getQueryType()?.getFields() ?? {};
  return new Set(
    Object.values(fields)
      .filter((field) => field.astNode?.directives?.some((directive) => directive.name.value === 'rateLimit'))
      .map((field) => field.name),
  );
}

/** Whether the operation selects any of `names` at its root (through fragments too). */
function selectsRoot(document: DocumentNode, selectionSet: SelectionSetNode, names: Set<string>): boolean {
  return selectionSet.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return names.has(selection.name.value);
    if (selection.kind === Kind.INLINE_FRAGMENT) return selectsRoot(document, selection.selectionSet, names);
    const fragment = document.definitions.find(
      (definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
    );
    return fragment?.kind === Kind.FRAGMENT_DEFINITION && selectsRoot(document, fragment.selectionSet, names);
  });
}

/**
 * Answers a query from the response cache when the same viewer asked the same operation with the
 * same variables since anything it read changed, and stores what a query read when all of it
 * is named by invalidations (src/cache/response-cache.ts). Mutations, subscriptions, results
 * with errors and, while rate limits are on, queries of rate-limited fields are never cached.
 */
export function responseCachePlugin(deps: {
  cache: ResponseCache;
  schema: GraphQLSchema;
  rateLimitsOn: boolean;
}): ApolloServerPlugin<RequestContext> {
  const { cache } = deps;
  const limited = deps.rateLimitsOn ? rateLimitedQueryFields(deps.schema) : new Set<string>();
  return {
    async requestDidStart() {
      let key: string | undefined;
      let begun = 0;
      return {
        async responseForOperation({ operation, document, request, contextValue }) {
          if (operation.operation !== 'query' || !cache.usable() || request.query === undefined) return null;
          if (limited.size > 0 && selectsRoot(document, operation.selectionSet, limited)) return null;
          const scope = scopeOf(contextValue.viewer, contextValue.access.tokenRejected);
          const candidate = responseCacheKey(scope, request.query, request.operationName, request.variables);
          if (candidate === undefined) return null;
          // Requests the fast path leaves to Apollo (a GET, a persisted query) are answered here.
          const json = cache.get(candidate);
          if (json !== undefined) {
            return {
              body: { kind: 'single', singleResult: JSON.parse(json) as { data: Record<string, unknown> } },
              http: { status: undefined, headers: new HeaderMap() },
            };
          }
          key = candidate;
          begun = cache.begin();
          return null;
        },
        async willSendResponse({ response, errors, contextValue }) {
          if (key === undefined || (errors?.length ?? 0) > 0) return;
          if (response.body.kind !== 'single' || response.body.singleResult.errors?.length) return;
          const { reads } = contextValue;
          if (!reads.cacheable || reads.tags.size === 0) return;
          cache.store(key, response.body.singleResult.data, reads.tags, begun);
        },
      };
    },
  };
}
