import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from '../core/logger';
import type { RequestContext } from './request-context';
import { ErrorCode } from '../core/errors';
import { isClientSafe, type ErrorFormatter } from './format-error';
import type { OperationLimits } from './operation-limits';

/** Logs every unexpected error with its request id, and hands that id to the client. */
function errorReportingPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          for (const error of errors) {
            if (!isClientSafe({ message: error.message, extensions: error.extensions }, error)) {
              contextValue.log.error(
                { err: error.originalError ?? error, path: error.path, operationName },
                'unexpected error in GraphQL request',
              );
            }
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            (error.extensions as Record<string, unknown> | undefined) ??= {};
            Object.assign(error.extensions as object, { requestId: contextValue.requestId });
          }
          // An OVERLOADED error that was not thrown as one (a database dropping the connection,
          // mapped by the formatter): Apollo took the status from the errors as thrown, so the
          // retryable 503 is set here.
          const overloaded = response.body.singleResult.errors?.find(
            (error) => error.extensions?.code === ErrorCode.OVERLOADED,
          );
          if (overloaded && (response.http.status === undefined || response.http.status === 200)) {
            response.http.status = 503;
            response.http.headers.set('retry-after', String(overloaded.extensions?.retryAfter ?? 1));
          }
        },
      };
    },
  };
}

export function createApolloServer(deps: {
  schema: GraphQLSchema;
  log: Logger;
  isProduction: boolean;
  formatError: ErrorFormatter;
  limits: Pick<OperationLimits, 'validationRules' | 'parseOptions'>;
  plugins: ApolloServerPlugin<RequestContext>[];
}): ApolloServer<RequestContext> {
  return new ApolloServer<RequestContext>({
    schema: deps.schema,
    // The schema is public documentation outside production, and an attack map inside it.
    introspection: !deps.isProduction,
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    formatError: deps.formatError,
    validationRules: deps.limits.validationRules,
    parseOptions: deps.limits.parseOptions,
    // One POST, one operation: a batch would multiply every per-request limit.
    allowBatchedHttpRequests: false,
    // Our own shutdown stops the server: Apollo's handler would re-send SIGTERM and kill
    // the process before the database pool is closed.
    stopOnTerminationSignals: false,
    logger: deps.log,
    plugins: [
      errorReportingPlugin(),
      // Apollo's own landing pages (Sandbox, Explorer) load from Apollo's CDN; the playground
      // is ours (src/http/playground.ts), so Apollo never serves one.
      ApolloServerPluginLandingPageDisabled(),
      // Parley gives no cache hints (every answer is per viewer and fresh): Apollo's default
      // cache-control plugin would only wrap every field's resolver to compute a policy of none.
      ApolloServerPluginCacheControlDisabled(),
      ...deps.plugins,
    ],
  });
}
