import type { FastifyInstance } from 'fastify';
import { poolStats, type Db } from '../clients/postgres';

const DB_CHECK_TIMEOUT_MILLIS = 2000;

async function checkDatabase(db: Db): Promise<{ reachable: boolean; latencyMillis: number; error?: string }> {
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
    return {
      reachable: false,
      latencyMillis: Math.round(performance.now() - started),
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness without I/O, and a database probe with pool figures. Never rate limited. */
export function registerHealthRoutes(fastify: FastifyInstance, deps: { db: Db }): void {
  fastify.get('/health', async () => ({ status: 'ok' }));

  fastify.get('/health/db', async (_request, reply) => {
    const check = await checkDatabase(deps.db);
    reply.code(check.reachable ? 200 : 503);
    return { status: check.reachable ? 'ok' : 'unavailable', ...check, pool: poolStats(deps.db) };
  });
}
