import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { Kind, type DocumentNode, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import type { ResponseCache } from '../cache/response-cache';
import type { Viewer } from '../sessions/session-service';
import type { RequestContext } from './request-context';

/** Variables longer than this (as JSON) are not part of a cache key: such a request is not cached. */
const MAX_VARIABLES_CHARS = 2048;

/** Whom a result was computed for: the same operation answers differently per viewer (owner-only fields). */
function scopeOf(viewer: Viewer, tokenRejected: boolean): string {
  if (viewer.kind === 'USER') return `user:${viewer.userId}`;
  if (viewer.kind === 'VISITOR') return `visitor:${viewer.botId}:${viewer.visitorId}`;
  return tokenRejected ? 'rejected' : 'anonymous';
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
        async responseForOperation({ operation, document, queryHash, request, contextValue }) {
          if (operation.operation !== 'query' || !cache.usable()) return null;
          if (limited.size > 0 && selectsRoot(document, operation.selectionSet, limited)) return null;
          const variables = JSON.stringify(request.variables ?? {});
          if (variables.length > MAX_VARIABLES_CHARS) return null;
          const scope = scopeOf(contextValue.viewer, contextValue.access.tokenRejected);
          const candidate = `${scope}\n${queryHash}\n${request.operationName ?? ''}\n${variables}`;
          const data = cache.get(candidate);
          if (data !== undefined) {
            return {
              body: { kind: 'single', singleResult: { data: data as Record<string, unknown> } },
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
