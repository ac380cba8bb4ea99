// What the read benchmark's peers share (response-cache-peer.mjs on Apollo, yoga-response-cache-peer.mjs
// on Yoga): the schema shape of the benchmark's queries (`bot(id)` with its owner and sources,
// `search`, `updateBot`) and its resolvers, on Parley's database.
//
// - Reads: plain SQL through `pg` with a DataLoader per request (`loaders()`, in each request's
//   context); `search` embeds the query with Parley's own hashing embedder (from PARLEY_DIST) and
//   asks pgvector.
// - Owners only: a bot that is not the caller's reads as null (a search on it as no hits); no
//   caller is UNAUTHENTICATED, in `extensions.code` as the write peers' errors (send-message.mjs).
// - `updateBot(id, input: {name, description})` updates the row and answers it; what that does to
//   a cache is the peer's business.
//
// Environment: PARLEY_DIST (a built Parley's dist/ folder, for the embedder), EMBEDDING_DIMENSION (1024).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import DataLoader from 'dataloader';
import { PeerError } from './send-message.mjs';

export const typeDefs = `#graphql
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The resolvers on `pool`, and `loaders()` for each request's context (`ctx.loaders`; the
 * context also holds `userId`, undefined without a valid token).
 *
 * @param {object} options
 * @param {import('pg').Pool} options.pool
 * @param {(info: import('graphql').GraphQLResolveInfo) => void} [options.onRead] called by the
 *   read resolvers with their `info` (the Apollo peer sets its cache hints there); none by default
 */
export function createBotReads({ pool, onRead = () => undefined }) {
  const require = createRequire(import.meta.url);
  const { createLocalEmbedder } = require(join(process.env.PARLEY_DIST, 'src/search/embedder.js'));
  const embedder = createLocalEmbedder({ dimension: Number(process.env.EMBEDDING_DIMENSION ?? 1024) });

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

  const loaders = () => ({
    bot: new DataLoader(byIds('SELECT id, owner_id, name, description FROM bots WHERE id = ANY($1::uuid[])')),
    user: new DataLoader(byIds('SELECT id, email, name FROM users WHERE id = ANY($1::uuid[])')),
    sources: new DataLoader(
      byIds(
        'SELECT id, bot_id, title, status FROM sources WHERE bot_id = ANY($1::uuid[]) ORDER BY created_at, id',
        'bot_id',
      ),
    ),
  });

  async function ownBot(ctx, id) {
    if (!ctx.userId) throw new PeerError('UNAUTHENTICATED', 'Sign in first: send `Authorization: Bearer <token>`.');
    if (!UUID.test(id)) return null;
    const bot = await ctx.loaders.bot.load(id);
    return bot && bot.owner_id === ctx.userId ? bot : null;
  }

  const resolvers = {
    Query: {
      bot: (_p, { id }, ctx, info) => (onRead(info), ownBot(ctx, id)),
      search: async (_p, { botId, query, limit }, ctx, info) => {
        onRead(info);
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
        if (!(await ownBot(ctx, id))) throw new PeerError('NOT_FOUND', `Bot ${id} was not found.`);
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
  };

  return { resolvers, loaders };
}
