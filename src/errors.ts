import { GraphQLError } from 'graphql';

/** The error codes a client can rely on (`extensions.code`). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
  OVERLOADED: 'OVERLOADED',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error meant for the client: its message and code reach the caller unmasked. */
export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extensions: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { ...extensions, code } });
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
