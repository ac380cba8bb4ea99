// The read benchmark's peer (issue 6): a small Apollo Server 5 + Fastify app on Parley's
// database with the same schema shape for the benchmark's queries, and Apollo's
// whole-response cache (`@apollo/server-plugin-response-cache`) over Redis.
//
// - Auth (the shared boot, apollo-fastify.mjs): every request looks its bearer token up in
//   PostgreSQL's `sessions` table (SHA-256 of the token, like Parley's rollback mode); the
//   response cache is per user (`sessionId` = user id, cache scope PRIVATE), maxAge
//   CACHE_MAX_AGE_SECONDS (60).
//   Apollo builds the context before it reads the response cache, so this lookup runs on
//   every request, cached or not: one PostgreSQL transaction per request.
// - Reads (the schema and resolvers it shares with the Yoga peer, bot-reads.mjs): plain SQL
//   through `pg` with a DataLoader per request; `search` embeds the query with Parley's own
//   hashing embedder (from PARLEY_DIST) and asks pgvector.
// - `updateBot(id, input: {name})` updates the row and nothing else: a whole-response cache
//   cannot tell which cached answers hold the bot, so they stay stale until their TTL.
//
// Environment: PORT (4600), DATABASE_URL, DATABASE_POOL_MAX (25), REDIS_URL
// (redis://127.0.0.1:6379), REDIS_KEY_PREFIX (parley-peer:), PARLEY_DIST (a built Parley's dist/
// folder, for the embedder), EMBEDDING_DIMENSION (1024), CACHE_MAX_AGE_SECONDS (60).
// Run: PORT=4603 DATABASE_URL=postgres://… PARLEY_DIST=$PWD/dist node load/peers/response-cache-peer.mjs
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { createPool, startPeer } from './apollo-fastify.mjs';
import { createBotReads, typeDefs } from './bot-reads.mjs';

const env = process.env;
const maxAge = Number(env.CACHE_MAX_AGE_SECONDS ?? 60);
const prefix = env.REDIS_KEY_PREFIX ?? 'parley-peer:';

const pool = createPool();
const { resolvers, loaders } = createBotReads({
  pool,
  onRead: (info) => info.cacheControl.setCacheHint({ maxAge, scope: 'PRIVATE' }),
});

const redisCache = new KeyvAdapter(
  new Keyv({ store: new KeyvRedis(env.REDIS_URL ?? 'redis://127.0.0.1:6379'), namespace: prefix.replace(/:$/, '') }),
);

await startPeer({
  typeDefs,
  resolvers,
  pool,
  cache: redisCache,
  plugins: [
    ApolloServerPluginCacheControl({ defaultMaxAge: maxAge }),
    responseCachePlugin({ sessionId: async ({ contextValue }) => contextValue.userId ?? null }),
  ],
  context: (base) => ({ ...base, loaders: loaders() }),
  onStop: [() => redisCache.keyv?.disconnect?.()],
});
