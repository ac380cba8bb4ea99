import type { FastifyInstance } from 'fastify';
import { poolStats, type Db } from '../platform/postgres/connection';
import type { Logger } from '../core/logger';

const DB_CHECK_TIMEOUT_MILLIS = 2000;

async function checkDatabase(
  db: Db,
  log: Logger,
): Promise<{ reachable: boolean; latencyMillis: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    // Bounded: a health check that hangs on an exhausted pool tells an orchestrator nothing.
    await Promise.race([
      db.raw('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${DB_CHECK_TIMEOUT_MILLIS} ms`)),
          DB_CHECK_TIMEOUT_MILLIS,
        );
      }),
    ]);
    return { reachable: true, latencyMillis: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error: unknown) {
    // The detail (host names, user names, server messages) is for operators, not for an
    // unauthenticated caller.
    log.error({ err: error }, 'database health check failed');
    return {
      reachable: false,
      latencyMillis: Math.round(performance.now() - started),
      error: 'The database did not answer; see the api log for the cause.',
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness without I/O, and a database probe with pool figures. Never rate limited. */
export function registerHealthRoutes(fastify: FastifyInstance, deps: { db: Db; log: Logger }): void {
  fastify.get('/health', async () => ({ status: 'ok' }));

  fastify.get('/health/db', async (_request, reply) => {
    const check = await checkDatabase(deps.db, deps.log);
    reply.code(check.reachable ? 200 : 503);
    return { status: check.reachable ? 'ok' : 'unavailable', ...check, pool: poolStats(deps.db) };
  });
}
