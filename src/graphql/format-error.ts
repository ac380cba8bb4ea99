import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { retryableDbError } from '../platform/postgres/pg-errors';
import { AppError, ErrorCode } from '../core/errors';

const MASKED_MESSAGE = 'Internal server error';

/** AppErrors, and errors graphql-js raises about the request itself (parse, validation, variables). */
export function isClientSafe(formatted: GraphQLFormattedError, error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) return true;
  return original instanceof GraphQLError && formatted.extensions?.code !== ErrorCode.INTERNAL_SERVER_ERROR;
}

const SUGGESTION = ' Did you mean ';

/**
 * graphql-js appends `Did you mean "secretField"?` to validation errors, which maps the
 * schema for someone who may not introspect it. Cut by position, not a regex over user-sized text.
 */
export function withoutSuggestions(message: string): string {
  const at = message.indexOf(SUGGESTION);
  return at === -1 ? message : message.slice(0, at);
}

export type ErrorFormatter = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * What a client sees of an error, on HTTP and WebSocket alike: safe ones as they are (less
 * field suggestions where the schema is private), anything else masked so that stack
 * traces, SQL and file paths never leave the server. The request id stays, so a report
 * from a client leads to the log line with the detail.
 */
export function createErrorFormatter(options: { hideSuggestions: boolean }): ErrorFormatter {
  return (formatted, error) => {
    const { stacktrace: _stacktrace, http: _http, ...extensions } = formatted.extensions ?? {};
    if (isClientSafe(formatted, error)) {
      const message = options.hideSuggestions ? withoutSuggestions(formatted.message) : formatted.message;
      return { ...formatted, message, extensions };
    }
    const retryable = retryableDbError(unwrapResolverError(error));
    if (retryable) {
      const { http: _retryableHttp, ...retryableExtensions } = retryable.extensions;
      return {
        message: retryable.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: {
          ...retryableExtensions,
          ...(extensions.requestId ? { requestId: extensions.requestId } : {}),
        },
      };
    }
    return {
      message: MASKED_MESSAGE,
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        code: ErrorCode.INTERNAL_SERVER_ERROR,
        ...(extensions.requestId ? { requestId: extensions.requestId } : {}),
      },
    };
  };
}
