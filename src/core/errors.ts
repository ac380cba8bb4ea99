import { GraphQLError } from 'graphql';

/** The error codes a client can rely on (`extensions.code`), on every transport. */
export const ErrorCode = {
  /** The HTTP request itself is malformed: its body, content type or size, or no such route. */
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
  OVERLOADED: 'OVERLOADED',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one mapping from error code to HTTP status, shared by GraphQL, uploads and plain routes. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  OVERLOADED: 503,
  INTERNAL_SERVER_ERROR: 500,
};

export interface HttpHead {
  status: number;
  headers: Record<string, string>;
}

/**
 * An error meant for the client: its message and code reach the caller unmasked, and it
 * knows its HTTP status and headers (`http`), which plain routes such as `/uploads` send as
 * they are.
 *
 * Over GraphQL, only errors that concern the whole request (rate limits, overload) put
 * their head into `extensions.http`, which Apollo turns into the response's status: a
 * query asking for ten bots, one of them someone else's, is still a 200 with partial data.
 */
export class AppError extends GraphQLError {
  readonly http: HttpHead;

  constructor(
    readonly code: ErrorCode,
    message: string,
    extensions: Record<string, unknown> = {},
    options: { status?: number; headers?: Record<string, string>; wholeRequest?: boolean } = {},
  ) {
    const http = { status: options.status ?? HTTP_STATUS[code], headers: options.headers ?? {} };
    // Apollo reads `extensions.http.headers` as a Map.
    const apolloHttp = { status: http.status, headers: new Map(Object.entries(http.headers)) };
    super(message, { extensions: { ...extensions, code, ...(options.wholeRequest ? { http: apolloHttp } : {}) } });
    this.http = http;
  }
}

/** @param status a more precise 4xx than 400 where HTTP has one (404 no route, 413 too large, 415 media type) */
export class BadRequestError extends AppError {
  constructor(message: string, status = 400) {
    super(ErrorCode.BAD_REQUEST, message, {}, { status });
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Sign in first: send `Authorization: Bearer <token>`.') {
    super(ErrorCode.UNAUTHENTICATED, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You do not have access to this resource.') {
    super(ErrorCode.FORBIDDEN, message);
  }
}

export class NotFoundError extends AppError {
  constructor(entity: string, id: string) {
    super(ErrorCode.NOT_FOUND, `${entity} ${id} was not found.`);
  }
}

export class BadUserInputError extends AppError {
  /** @param field the argument or input field at fault, reported as `extensions.field` */
  constructor(message: string, field?: string) {
    super(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
  }
}

/** Whole seconds, at least 1: `Retry-After: 0` would invite an immediate retry storm. */
export function retryAfterSeconds(millis: number): number {
  return Math.max(1, Math.ceil(millis / 1000));
}

/** Too many requests for a policy; retrying after `retryAfter` seconds succeeds. */
export class RateLimitedError extends AppError {
  constructor(
    readonly retryAfter: number,
    message = `Too many requests: try again in ${retryAfter} s.`,
    headers: Record<string, string> = {},
  ) {
    super(
      ErrorCode.RATE_LIMITED,
      message,
      { retryAfter },
      { headers: { 'retry-after': String(retryAfter), ...headers }, wholeRequest: true },
    );
  }
}

/** The service sheds load (a full write buffer, a saturated process); the request may be retried as is. */
export class OverloadedError extends AppError {
  constructor(
    readonly retryAfter: number,
    message = `The service is busy: try again in ${retryAfter} s.`,
    /** `cause`: what failed underneath, for the log only. */
    options: { cause?: unknown } = {},
  ) {
    super(
      ErrorCode.OVERLOADED,
      message,
      { retryAfter },
      { headers: { 'retry-after': String(retryAfter) }, wholeRequest: true },
    );
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * Why a process cannot start, when the operator can fix it (a setting, a service to start):
 * printed as its message alone, which names what to set or start, without a stack.
 */
export class StartupError extends Error {
  override readonly name: string = 'StartupError';
}
