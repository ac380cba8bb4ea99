import type { Resolvers } from '../__generated__/resolvers-types';
import { NotFoundError } from '../../errors';

export const sourceResolvers: Resolvers = {
  Query: {
    source: (_parent, { id }, { sources }) => sources.get(id),
  },
  Mutation: {
    createSource: (_parent, { input }, { sources }) => sources.create(input),
    deleteSource: (_parent, { id }, { sources }) => sources.delete(id),
  },
  Source: {
    bot: async (source, _args, { loaders }) => {
      const bot = await loaders.bot.load(source.botId);
      if (!bot) throw new NotFoundError('Bot', source.botId);
      return bot;
    },
  },
};
