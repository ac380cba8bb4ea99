import { OverloadedError } from '../../core/errors';

/**
 * PostgreSQL errors classified by SQLSTATE, in one place: repositories turn unique
 * violations into domain errors, and retry loops (ingestion, the write buffer) retry only
 * what is known to be transient, never a bug.
 */

/** SQLSTATEs after which the same statement may well succeed if tried again. */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57014', // query_canceled: a statement timeout
  '57P01', // admin_shutdown: the server is restarting or failing over, or an operator ended the session
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting up or shutting down
  '57P04', // database_dropped: a session of a database being dropped (or recreated by a restore)
  '57P05', // idle_session_timeout: the server closed an idle pooled connection; a new one works
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
]);

/**
 * object_not_in_prerequisite_state. At connection time it is the database refusing sessions
 * (`ALTER DATABASE … ALLOW_CONNECTIONS false` during a restore or failover, or a database left
 * invalid by an interrupted DROP): an operator's state that ends, so the client should come back.
 * On a statement the same code means the statement can never work as written (currval before
 * nextval, wal_level too low for what was asked): a bug, which must stay a 500 and not be retried.
 * The server tells them apart: a refused connection is FATAL (it ends the session), a statement
 * error is ERROR. `severity` is in the server's lc_messages language, so the routine that refuses a
 * database (not translated) is checked as well.
 */
const PREREQUISITE_STATE = '55000';
const REFUSED_DATABASE_ROUTINE = 'CheckMyDatabase';

function isRefusedConnection(error: unknown): boolean {
  const { severity, routine } = (error ?? {}) as { severity?: unknown; routine?: unknown };
  return severity === 'FATAL' || routine === REFUSED_DATABASE_ROUTINE;
}

/** Node socket errors that mean the connection, not the statement, failed. */
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (codeOf(error) !== '23505') return false;
  return constraint === undefined || (error as { constraint?: unknown }).constraint === constraint;
}

/**
 * True for errors worth retrying: connection exceptions (class 08), serialization
 * failures and deadlocks, a server shutting down or starting, a database refusing
 * connections, too many connections, broken sockets, and knex's pool or connection time-outs.
 */
export function isTransientDbError(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (code.startsWith('08') || TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code)))
    return true;
  if (code === PREREQUISITE_STATE) return isRefusedConnection(error);
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'KnexTimeoutError') return true;
  // pg reports a connection that dropped mid-query without a code; knex puts the statement
  // first (`COMMIT; - Connection terminated unexpectedly`).
  const message = error instanceof Error ? error.message : '';
  return /(?:^|- )(?:Connection terminated|Client has encountered a connection error)/.test(message);
}

/**
 * True for errors the data itself caused (SQLSTATE classes 22, data exception, and 23,
 * integrity constraint violation): trying the same rows again fails the same way. The write
 * buffer isolates and dead-letters what fails like this, and retries everything else.
 */
export function isDataError(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

/** A dropped or restarting database is worth a retry, not a report: the client may send it again. */
const DATABASE_RETRY_AFTER_SECONDS = 1;

/**
 * What a transient database error means to a client: OVERLOADED, retry in a second (503 with
 * Retry-After); undefined for anything else. Every transport maps errors through this, so a
 * dropped connection reads the same on GraphQL, WebSocket and plain routes.
 */
export function retryableDbError(error: unknown): OverloadedError | undefined {
  if (!isTransientDbError(error)) return undefined;
  return new OverloadedError(
    DATABASE_RETRY_AFTER_SECONDS,
    `The database is unavailable for a moment: try again in ${DATABASE_RETRY_AFTER_SECONDS} s.`,
    { cause: error },
  );
}
