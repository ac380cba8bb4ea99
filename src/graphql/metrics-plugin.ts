import type { ApolloServerPlugin } from '@apollo/server';

export type GraphQLDurationLabels = 'operation_type' | 'outcome';

/**
 * Names each HTTP GraphQL request's operation for its duration sample (the HTTP one: a request
 * is timed once): its type (`query`, `mutation`, or `unknown` when the document did not parse
 * or validate) and outcome (`error` when the response carries any error, else `ok`). The
 * operation name is left out: clients choose it, so it would grow the series without bound.
 */
export function graphqlMetricsPlugin<T extends { requestId: string }>(
  label: (requestId: string, labels: Record<GraphQLDurationLabels, string>) => void,
): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, operation, errors, response }) {
          const failed =
            (errors?.length ?? 0) > 0 ||
            (response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0);
          label(contextValue.requestId, {
            operation_type: operation?.operation ?? 'unknown',
            outcome: failed ? 'error' : 'ok',
          });
        },
      };
    },
  };
}
