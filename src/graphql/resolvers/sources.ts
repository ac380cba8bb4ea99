import type { Resolvers } from '../__generated__/resolvers-types';
import { loadExisting } from '../../loaders/create-loaders';

export const sourceResolvers: Resolvers = {
  Query: {
    source: (_parent, { id }, { sources }) => sources.get(id),
  },
  Mutation: {
    createSource: (_parent, { input }, { sources }) => sources.create(input),
    deleteSource: (_parent, { id }, { sources }) => sources.delete(id),
  },
  Source: {
    bot: (source, _args, { loaders }) => loadExisting(loaders.bot, 'Bot', source.botId),
  },
};
