import { GraphQLError } from 'graphql';
import { ForbiddenError } from '../../src/core/errors';
import { createErrorFormatter, withoutSuggestions } from '../../src/graphql/format-error';

const formatError = createErrorFormatter({ hideSuggestions: true });

/** How graphql-js wraps an error thrown inside a resolver. */
const fromResolver = (error: Error) => new GraphQLError(error.message, { originalError: error, path: ['bot'] });

describe('formatError', () => {
  it('passes application errors through with their code', () => {
    const error = fromResolver(new ForbiddenError('Not yours.'));
    const formatted = formatError(
      { message: 'Not yours.', extensions: { code: 'FORBIDDEN', stacktrace: ['x'] } },
      error,
    );
    expect(formatted).toEqual({ message: 'Not yours.', extensions: { code: 'FORBIDDEN' } });
  });

  it('masks anything unexpected but keeps the path and request id', () => {
    const error = fromResolver(new Error('relation "bots" does not exist'));
    const formatted = formatError(
      { message: error.message, path: ['bot'], extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'r-1' } },
      error,
    );
    expect(formatted).toEqual({
      message: 'Internal server error',
      path: ['bot'],
      locations: undefined,
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'r-1' },
    });
  });

  it('tells a client to retry when the database dropped the connection, as knex reports it', () => {
    const dropped = Object.assign(new Error('COMMIT; - Connection terminated unexpectedly'), {});
    const shutdown = Object.assign(new Error('BEGIN; - terminating connection due to administrator command'), {
      code: '57P01',
    });
    for (const cause of [
      dropped,
      shutdown,
      new Error('ROLLBACK - Client has encountered a connection error and is not queryable'),
    ]) {
      const error = fromResolver(cause);
      const formatted = formatError(
        {
          message: cause.message,
          path: ['sendMessage'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'r-2' },
        },
        error,
      );
      expect(formatted).toEqual({
        message: 'The database is unavailable for a moment: try again in 1 s.',
        path: ['sendMessage'],
        locations: undefined,
        extensions: { code: 'OVERLOADED', retryAfter: 1, requestId: 'r-2' },
      });
    }
    // A message that merely mentions it is not one.
    const other = fromResolver(new Error('value "Connection terminated" is too long'));
    expect(
      formatError({ message: other.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }, other).extensions!.code,
    ).toBe('INTERNAL_SERVER_ERROR');
  });

  it('shows errors about the request itself', () => {
    const error = new GraphQLError('Cannot query field "x" on type "Query".', {
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    const formatted = createErrorFormatter({ hideSuggestions: false })(
      { message: error.message, extensions: error.extensions },
      error,
    );
    expect(formatted.message).toBe(error.message);
  });

  it('hides field suggestions when asked to, and only the suggestion', () => {
    const message = 'Cannot query field "nme" on type "User". Did you mean "name"?';
    const error = new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(formatError({ message, extensions: error.extensions }, error).message).toBe(
      'Cannot query field "nme" on type "User".',
    );
    expect(createErrorFormatter({ hideSuggestions: false })({ message }, error).message).toBe(message);
    expect(withoutSuggestions('Unknown argument "x".')).toBe('Unknown argument "x".');
  });

  it('never sends the http head or a stack trace', () => {
    const error = fromResolver(new ForbiddenError('Not yours.'));
    const formatted = formatError(
      { message: 'Not yours.', extensions: { code: 'FORBIDDEN', http: { status: 403 }, stacktrace: ['x'] } },
      error,
    );
    expect(formatted.extensions).toEqual({ code: 'FORBIDDEN' });
  });
});
