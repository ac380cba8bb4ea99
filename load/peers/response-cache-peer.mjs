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
// - Reads: plain SQL through `pg` with a DataLoader per request; `search` embeds the query
//   with Parley's own hashing embedder (from PARLEY_DIST) and asks pgvector.
// - `updateBot(id, input: {name})` updates the row and nothing else: a whole-response cache
//   cannot tell which cached answers hold the bot, so they stay stale until their TTL.
//
// Environment: PORT (4600), DATABASE_URL, DATABASE_POOL_MAX (25), REDIS_URL
// (redis://127.0.0.1:6379), REDIS_KEY_PREFIX (parley-peer:), PARLEY_DIST (a built Parley's dist/
// folder, for the embedder), EMBEDDING_DIMENSION (1024), CACHE_MAX_AGE_SECONDS (60).
// Run: PORT=4603 DATABASE_URL=postgres://… PARLEY_DIST=$PWD/dist node load/peers/response-cache-peer.mjs
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import KeyvRedis from '@keyv/redis';
import DataLoader from 'dataloader';
import Keyv from 'keyv';
import { createPool, startPeer } from './apollo-fastify.mjs';

const env = process.env;
const maxAge = Number(env.CACHE_MAX_AGE_SECONDS ?? 60);
const prefix = env.REDIS_KEY_PREFIX ?? 'parley-peer:';
const require = createRequire(import.meta.url);
const { createLocalEmbedder } = require(join(env.PARLEY_DIST, 'src/search/embedder.js'));
const embedder = createLocalEmbedder({ dimension: Number(env.EMBEDDING_DIMENSION ?? 1024) });

const pool = createPool();

const typeDefs = `#graphql
  type User { id: ID! email: String! name: String }
  type Source { id: ID! title: String! status: String! }
  type Bot { id: ID! name: String! description: String owner: User sources: [Source!] }
  type SearchHit { sourceId: ID! content: String! score: Float! }
  type Query {
    bot(id: ID!): Bot
    search(botId: ID!, query: String!, limit: Int = 5): [SearchHit!]!
  }
  input UpdateBotInput { name: String description: String }
  type Mutation { updateBot(id: ID!, input: UpdateBotInput!): Bot! }
`;

const byIds =
  (sql, key = 'id') =>
  async (ids) => {
    const { rows } = await pool.query(sql, [ids]);
    const map = new Map();
    for (const row of rows) {
      const k = row[key];
      if (key === 'id') map.set(k, row);
      else (map.get(k) ?? map.set(k, []).get(k)).push(row);
    }
    return ids.map((id) => map.get(id) ?? (key === 'id' ? null : []));
  };

function loaders() {
  return {
    bot: new DataLoader(byIds('SELECT id, owner_id, name, description FROM bots WHERE id = ANY($1::uuid[])')),
    user: new DataLoader(byIds('SELECT id, email, name FROM users WHERE id = ANY($1::uuid[])')),
    sources: new DataLoader(
      byIds(
        'SELECT id, bot_id, title, status FROM sources WHERE bot_id = ANY($1::uuid[]) ORDER BY created_at, id',
        'bot_id',
      ),
    ),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const privateHint = (info) => info.cacheControl.setCacheHint({ maxAge, scope: 'PRIVATE' });

async function ownBot(ctx, id) {
  if (!ctx.userId) throw new Error('UNAUTHENTICATED');
  if (!UUID.test(id)) return null;
  const bot = await ctx.loaders.bot.load(id);
  return bot && bot.owner_id === ctx.userId ? bot : null;
}

const resolvers = {
  Query: {
    bot: (_p, { id }, ctx, info) => (privateHint(info), ownBot(ctx, id)),
    search: async (_p, { botId, query, limit }, ctx, info) => {
      privateHint(info);
      if (!(await ownBot(ctx, botId))) return [];
      const [embedding] = await embedder.embed([query]);
      if (!embedding || embedding.every((x) => x === 0)) return [];
      const vector = `[${embedding.join(',')}]`;
      const { rows } = await pool.query(
        `SELECT source_id, content, embedding <=> $1::vector AS distance FROM source_chunks
         WHERE bot_id = $2 ORDER BY embedding <=> $1::vector LIMIT $3`,
        [vector, botId, Math.min(Math.max(limit, 1), 50)],
      );
      return rows.map((r) => ({ sourceId: r.source_id, content: r.content, score: 1 - Number(r.distance) }));
    },
  },
  Mutation: {
    updateBot: async (_p, { id, input }, ctx) => {
      if (!(await ownBot(ctx, id))) throw new Error('NOT_FOUND');
      const { rows } = await pool.query(
        `UPDATE bots SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = now()
         WHERE id = $1 RETURNING id, owner_id, name, description`,
        [id, input.name ?? null, input.description ?? null],
      );
      return rows[0];
    },
  },
  Bot: {
    owner: (bot, _a, ctx) => ctx.loaders.user.load(bot.owner_id),
    sources: (bot, _a, ctx) => ctx.loaders.sources.load(bot.id),
  },
  User: {},
  Source: {},
};

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
