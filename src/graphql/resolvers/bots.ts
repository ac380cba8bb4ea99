import type { Resolvers } from '../__generated__/resolvers-types';
import { ForbiddenError } from '../../core/errors';
import { loadExisting } from '../../loaders/create-loaders';
import type { BotRecord } from '../../repos/records';
import type { RequestContext } from '../request-context';

/** Fields only the owner sees; a widget visitor sees a bot's name and public key. */
function ownerOnly(bot: BotRecord, { access }: RequestContext): void {
  if (!access.isOwnerOf(bot)) throw new ForbiddenError('Only the bot owner can see this field.');
}

export const botResolvers: Resolvers = {
  Query: {
    bot: (_parent, { id }, { bots }) => bots.get(id),
    bots: (_parent, { first, after }, { bots }) => bots.list(first, after),
  },
  Mutation: {
    createBot: (_parent, { input }, { bots }) => bots.create(input),
    updateBot: (_parent, { id, input }, { bots }) => bots.update(id, input),
    deleteBot: (_parent, { id }, { bots }) => bots.delete(id),
  },
  Bot: {
    instructions: (bot, _args, context) => {
      ownerOnly(bot, context);
      return bot.instructions;
    },
    owner: (bot, _args, context) => {
      ownerOnly(bot, context);
      return loadExisting(context.loaders.user, 'User', bot.ownerId);
    },
    sources: (bot, _args, context) => {
      ownerOnly(bot, context);
      return context.sources.listByBot(bot.id);
    },
    allowedOrigins: (bot, _args, context) => {
      ownerOnly(bot, context);
      // A bot cached before the field existed has none.
      return bot.allowedOrigins ?? [];
    },
    messageCount: async (bot, _args, context) => {
      ownerOnly(bot, context);
      return (await context.loaders.botActivity.load(bot.id))?.messageCount ?? 0;
    },
    lastActiveAt: async (bot, _args, context) => {
      ownerOnly(bot, context);
      return (await context.loaders.botActivity.load(bot.id))?.lastActiveAt ?? null;
    },
    conversations: (bot, { first }, context) => {
      ownerOnly(bot, context);
      return context.chat.conversationsOfBot(bot.id, first);
    },
  },
};
