import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { AppError, ErrorCode } from '../errors';

export const MASKED_MESSAGE = 'Internal server error';

/** AppErrors, and errors graphql-js raises about the request itself (parse, validation, variables). */
export function isClientSafe(formatted: GraphQLFormattedError, error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) return true;
  return original instanceof GraphQLError && formatted.extensions?.code !== ErrorCode.INTERNAL_SERVER_ERROR;
}

/**
 * What a client sees of an error: safe ones as they are, anything else masked so that
 * stack traces, SQL and file paths never leave the server. The request id stays, so a
 * report from a client leads to the log line with the detail.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
  if (isClientSafe(formatted, error)) return { ...formatted, extensions };
  return {
    message: MASKED_MESSAGE,
    locations: formatted.locations,
    path: formatted.path,
    extensions: {
      code: ErrorCode.INTERNAL_SERVER_ERROR,
      ...(extensions.requestId ? { requestId: extensions.requestId } : {}),
    },
  };
}
