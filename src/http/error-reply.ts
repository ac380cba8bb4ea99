import type { FastifyReply } from 'fastify';
import { AppError, ErrorCode, HTTP_STATUS } from '../core/errors';

/** The GraphQL-over-HTTP error shape, also used by the plain routes so clients parse one format. */
function errorBody(
  error: { code: ErrorCode; message: string; extensions?: Record<string, unknown> },
  requestId: string,
) {
  const { http: _http, ...extensions } = error.extensions ?? {};
  return { errors: [{ message: error.message, extensions: { ...extensions, code: error.code, requestId } }] };
}

/** Sends an AppError as its own status, headers and body: the mapping GraphQL uses too. */
export function sendAppError(reply: FastifyReply, error: AppError, requestId: string): FastifyReply {
  return reply.code(error.http.status).headers(error.http.headers).send(errorBody(error, requestId));
}

/** The masked answer to anything unexpected; the detail is in the log under the same request id. */
export function sendInternalError(reply: FastifyReply, requestId: string): FastifyReply {
  return reply
    .code(HTTP_STATUS.INTERNAL_SERVER_ERROR)
    .send(errorBody({ code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error' }, requestId));
}
