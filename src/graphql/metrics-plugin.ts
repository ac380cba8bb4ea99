import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { Histogram } from 'prom-client';

export type GraphQLDurationLabels = 'operation_type' | 'outcome';

/**
 * Observes each HTTP GraphQL operation's duration, from request start to the response,
 * labelled by operation type (`query`, `mutation`, or `unknown` when the document did not
 * parse or validate) and outcome (`error` when the response carries any error, else `ok`).
 * The operation name is left out: clients choose it, so it would grow the series without bound.
 */
export function graphqlMetricsPlugin<T extends BaseContext>(
  duration: Histogram<GraphQLDurationLabels>,
): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({ operation, errors, response }) {
          const failed =
            (errors?.length ?? 0) > 0 ||
            (response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0);
          duration.observe(
            { operation_type: operation?.operation ?? 'unknown', outcome: failed ? 'error' : 'ok' },
            (performance.now() - started) / 1000,
          );
        },
      };
    },
  };
}
