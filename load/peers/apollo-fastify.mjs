// The benchmark peers' shared boot: Apollo Server 5 on Fastify 5, as a team would set it up
// for a small GraphQL service, so that each peer file holds only what it does per request.
//
// - `POST /graphql` (Apollo through `@as-integrations/fastify`) and `GET /health` → `{"ok":true}`,
//   on 127.0.0.1:PORT; one line `peer ready on http://127.0.0.1:PORT/graphql` once listening.
// - Auth, when the peer hands over a pg pool: every request looks its bearer token up in
//   PostgreSQL's `sessions` table (SHA-256 of the token, kind USER, not expired), like Parley's
//   rollback mode; the context gets `userId` (undefined when the token is missing or unknown;
//   each resolver decides what that means). Without a pool (the floor peer), no look-up at all.
// - Stop on SIGTERM or SIGINT: Apollo drains (closes Fastify, waiting for requests in flight),
//   then the peer's own `onStop` steps, then the pool; every step runs even if one before it fails.
//
// Environment: PORT (4600), DATABASE_URL, DATABASE_POOL_MAX (25).
import { createHash } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify from 'fastify';
import pg from 'pg';

/** A pg pool on DATABASE_URL with at most DATABASE_POOL_MAX (25) connections. */
export function createPool() {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.DATABASE_POOL_MAX ?? 25),
  });
  // An idle connection the server drops emits here; unheard, it would end the process.
  pool.on('error', (error) => console.error('idle PostgreSQL connection failed:', error.message));
  return pool;
}

/** Runs `work(client)` in one transaction on a connection of `pool`: COMMIT if it returns, ROLLBACK if it throws. */
export async function transaction(pool, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * On SIGTERM or SIGINT, runs `steps` in order, each even if one before it failed, and exits
 * (1 if any failed). A second signal while stopping is ignored.
 */
export function stopOnSignals(steps) {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    let failed = false;
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        failed = true;
        console.error('stop step failed:', error);
      }
    }
    process.exit(failed ? 1 : 0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The user id of a bearer token as Parley's rollback mode stores sessions (SHA-256 of the token); undefined when missing or unknown. */
export async function userIdOf(pool, authorization) {
  const match = /^Bearer (\S+)$/.exec(authorization ?? '');
  if (!match) return undefined;
  const hash = createHash('sha256').update(match[1]).digest('hex');
  const { rows } = await pool.query(
    `SELECT user_id FROM sessions WHERE token_hash = $1 AND kind = 'USER' AND expires_at > now()`,
    [hash],
  );
  return rows[0]?.user_id;
}

/**
 * Starts the peer and resolves once it listens.
 *
 * @param {object} options
 * @param {string} options.typeDefs
 * @param {object} options.resolvers
 * @param {import('pg').Pool} [options.pool] authenticates every request (context `userId`) and
 *   is ended on stop; none (the default): no auth and no database
 * @param {object[]} [options.plugins] Apollo plugins besides the drain plugin (none)
 * @param {object} [options.cache] Apollo's cache (Apollo's default, in memory)
 * @param {(base: {userId?: string}, request: import('fastify').FastifyRequest) => object} [options.context]
 *   builds each request's context from the base one, `{ userId }` (the base one as it is)
 * @param {(() => Promise<unknown>)[]} [options.onStop] close what the peer opened besides the
 *   pool, in order, after the server has drained (none)
 */
export async function startPeer({ typeDefs, resolvers, pool, plugins = [], cache, context, onStop = [] }) {
  const port = Number(process.env.PORT ?? 4600);
  const fastify = Fastify({ logger: false });
  const apollo = new ApolloServer({
    typeDefs,
    resolvers,
    cache,
    introspection: false,
    includeStacktraceInErrorResponses: false,
    // Stopping is ours (below): Apollo's own handler would exit before the pool is ended.
    stopOnTerminationSignals: false,
    plugins: [fastifyApolloDrainPlugin(fastify), ...plugins],
  });
  await apollo.start();

  const baseContext = pool
    ? async (request) => ({ userId: await userIdOf(pool, request.headers.authorization) })
    : async () => ({});
  await fastify.register(fastifyApollo(apollo), {
    context: context ? async (request) => context(await baseContext(request), request) : baseContext,
  });
  fastify.get('/health', async () => ({ ok: true }));
  await fastify.listen({ host: '127.0.0.1', port });
  console.log(`peer ready on http://127.0.0.1:${port}/graphql`);

  // apollo.stop() runs the drain plugin, which closes Fastify.
  stopOnSignals([() => apollo.stop(), ...onStop, ...(pool ? [() => pool.end()] : [])]);
}
