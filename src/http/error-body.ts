import type { ErrorCode } from '../errors';

/** The GraphQL-over-HTTP error shape, also used by the non-GraphQL routes so clients parse one format. */
export function errorBody(code: ErrorCode | 'BAD_REQUEST', message: string, requestId: string) {
  return { errors: [{ message, extensions: { code, requestId } }] };
}
