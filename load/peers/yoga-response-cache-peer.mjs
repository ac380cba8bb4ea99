// The read benchmark's second peer: GraphQL Yoga 5 on Node's own `http` server, on Parley's
// database with the same schema and resolvers as the Apollo peer (bot-reads.mjs), and Yoga's
// whole-response cache (`useResponseCache` of `@graphql-yoga/plugin-response-cache`) over Redis
// (`createRedisCache` of `@envelop/response-cache-redis`), otherwise as Yoga sets it up by default.
//
// - Auth: every request looks its bearer token up in PostgreSQL's `sessions` table (SHA-256 of
//   the token, kind USER, not expired), as apollo-fastify.mjs does, once per request: the
//   response cache's `session` asks first (the cache key holds the user id: a cache per user),
//   the context reuses its answer. Yoga reads the cache before it builds the context, but the key
//   needs the user, so the lookup still runs on every request, cached or not: one PostgreSQL
//   transaction per request, as with the Apollo peer. TTL CACHE_MAX_AGE_SECONDS (60).
// - Reads: plain SQL through `pg` with a DataLoader per request (bot-reads.mjs); `search` embeds
//   the query with Parley's own hashing embedder (from PARLEY_DIST) and asks pgvector.
// - `updateBot(id, input: {name})` updates the row; Yoga's cache then drops every cached answer
//   that holds the returned bot (`Bot:<id>`, any user's), its default invalidation by mutation.
//   It does so after the answer is on its way (not awaited), and a read that loaded the bot before
//   the update can store its answer after the eviction: a read right after a rename is now and
//   then stale. It sees only mutations made through this peer: a change made elsewhere (by a
//   worker, another api) stays stale until the TTL.
// - Redis: one ioredis client with `keyPrefix` REDIS_KEY_PREFIX, so every key it writes is under
//   it: the cached answers (`<prefix><sha256>`, with the TTL) and the invalidation index (sets
//   `<prefix>Bot`, `<prefix>Bot:<id>`, `<prefix>operations:<sha256>`, … without a TTL).
// - HTTP: `/graphql` (Yoga; no GraphiQL, errors masked as by default, logging from warn up) and
//   `GET /health` → `{"ok":true}`, on 127.0.0.1:PORT, listening once PostgreSQL and Redis have
//   answered; one line `peer ready on http://127.0.0.1:PORT/graphql` then. Stops on SIGTERM or
//   SIGINT: the server closes (waiting for requests in flight), then Yoga, Redis and the pool.
//   The pool and the stop come from apollo-fastify.mjs, which loads Apollo and Fastify as well,
//   unused here: start-up time and memory, nothing per request.
//
// Environment: PORT (4600), DATABASE_URL, DATABASE_POOL_MAX (25), REDIS_URL
// (redis://127.0.0.1:6379), REDIS_KEY_PREFIX (parley-peer:), PARLEY_DIST (a built Parley's dist/
// folder, for the embedder), EMBEDDING_DIMENSION (1024), CACHE_MAX_AGE_SECONDS (60).
// Run: PORT=4604 DATABASE_URL=postgres://… PARLEY_DIST=$PWD/dist node load/peers/yoga-response-cache-peer.mjs
import { createServer } from 'node:http';
import { createRedisCache } from '@envelop/response-cache-redis';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { createSchema, createYoga } from 'graphql-yoga';
import IORedis from 'ioredis';
import { createPool, stopOnSignals, userIdOf as lookUpUserId } from './apollo-fastify.mjs';
import { createBotReads, typeDefs } from './bot-reads.mjs';

const env = process.env;
const port = Number(env.PORT ?? 4600);
const maxAge = Number(env.CACHE_MAX_AGE_SECONDS ?? 60);

const pool = createPool();
const redis = new IORedis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  keyPrefix: env.REDIS_KEY_PREFIX ?? 'parley-peer:',
});
const { resolvers, loaders } = createBotReads({ pool });

/** The user id of a request's bearer token (undefined when missing or unknown): looked up once per request. */
const userIds = new WeakMap();
function userIdOf(request) {
  let userId = userIds.get(request);
  if (!userId) {
    userId = lookUpUserId(pool, request.headers.get('authorization'));
    userIds.set(request, userId);
  }
  return userId;
}

const yoga = createYoga({
  schema: createSchema({ typeDefs, resolvers }),
  graphqlEndpoint: '/graphql',
  graphiql: false,
  logging: 'warn',
  context: async ({ request }) => ({ userId: await userIdOf(request), loaders: loaders() }),
  plugins: [
    useResponseCache({
      session: (request) => userIdOf(request),
      ttl: maxAge * 1000,
      cache: createRedisCache({ redis }),
    }),
  ],
});

await pool.query('SELECT 1');
await redis.ping();

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    return;
  }
  yoga(req, res);
});
// Fastify's default (the Apollo peers'), where Node's own is 5 s: idle keep-alive connections
// last as long on every peer.
server.keepAliveTimeout = 72_000;
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
console.log(`peer ready on http://127.0.0.1:${port}/graphql`);

stopOnSignals([
  () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  () => yoga.dispose(),
  () => redis.quit(),
  () => pool.end(),
]);
