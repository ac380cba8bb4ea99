import knex, { type Knex } from 'knex';
import type { Config } from '../../config/config';
import { StartupError } from '../../core/errors';
import type { Logger } from '../../core/logger';

export type Db = Knex;

/**
 * What a repository method runs its SQL on: the pool, or a transaction that the caller
 * opened so that several repositories' writes commit together.
 */
export type Executor = Knex | Knex.Transaction;

/**
 * One pool per process. `minIdle` connections are kept open so a burst does not pay
 * connection set-up; connections are recycled after `maxLifetimeSeconds` so that
 * server-side memory growth and fail-overs are picked up.
 */
export function createDb(database: Config['database'], log: Logger): Db {
  return knex({
    client: 'pg',
    connection: {
      connectionString: database.url,
      // Set once per connection, so a vector search is one statement, not a transaction that
      // scopes it with SET LOCAL (see chunks.ts). Only HNSW index scans read it.
      options: '-c hnsw.iterative_scan=relaxed_order',
    },
    // Knex reports pool and driver trouble (a refused connection, a dropped database) through
    // this; by default it writes to the console, outside the structured log.
    log: {
      warn: (message: unknown) => log.warn({ component: 'knex', detail: message }, 'database warning'),
      error: (message: unknown) => log.error({ component: 'knex', detail: message }, 'database error'),
      deprecate: (method: string, alternative: string) =>
        log.warn({ component: 'knex', method, alternative }, 'deprecated knex call'),
      debug: (message: unknown) => log.debug({ component: 'knex', detail: message }, 'database debug'),
    },
    pool: {
      min: database.pool.minIdle,
      max: database.pool.max,
      idleTimeoutMillis: database.pool.idleTimeoutMillis,
      maxConnectionLifetimeMillis: database.pool.maxLifetimeSeconds * 1000,
      // Spread recycling so the whole pool does not reconnect in the same second.
      maxConnectionLifetimeJitterMillis: Math.min(60_000, database.pool.maxLifetimeSeconds * 100),
    },
  });
}

/**
 * Runs one query, or throws a `StartupError` naming the database (never its password) and
 * what to do: the driver's own error (ECONNREFUSED, an unknown database) says neither.
 */
export async function connectPostgres(db: Db, url: string): Promise<void> {
  try {
    await db.raw('SELECT 1');
  } catch (error: unknown) {
    const { hostname, port, pathname } = new URL(url);
    const reason = (error as Error)?.message ?? String(error);
    throw new StartupError(
      `PostgreSQL at ${hostname}:${port || 5432}${pathname} did not answer (${reason}); ` +
        'start it and create the database (make services), or set DATABASE_URL',
      { cause: error },
    );
  }
}

export interface PoolStats {
  total: number;
  idle: number;
  inUse: number;
  waiting: number;
}

export function poolStats(db: Db): PoolStats {
  // knex exposes its tarn pool only untyped; these four counters are tarn's public API.
  const pool = db.client.pool as {
    numUsed(): number;
    numFree(): number;
    numPendingAcquires(): number;
  };
  const inUse = pool.numUsed();
  const idle = pool.numFree();
  return { total: inUse + idle, idle, inUse, waiting: pool.numPendingAcquires() };
}
