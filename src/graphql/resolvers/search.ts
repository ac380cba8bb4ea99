import type { Resolvers } from '../__generated__/resolvers-types';

export const searchResolvers: Resolvers = {
  Query: {
    search: (_parent, { botId, query, limit }, { search }) => search.search(botId, query, limit),
  },
};
