import type { Resolvers } from '../__generated__/resolvers-types';
import { loadExisting } from '../../loaders/create-loaders';
import type { MessageStatusEvent } from '../../pubsub/message-status-pubsub';

export const chatResolvers: Resolvers = {
  Query: {
    conversation: (_parent, { id }, { chat }) => chat.conversation(id),
    messageStatuses: (_parent, { ids }, { chat }) => chat.messageStatuses(ids),
  },
  Mutation: {
    startWidgetSession: (_parent, { publicKey }, { chat }) => chat.startWidgetSession(publicKey),
    sendMessage: (_parent, { input }, { chat }) => chat.sendMessage(input),
  },
  Subscription: {
    messageStatusChanged: {
      subscribe: (_parent, { conversationId }, { chat }) => chat.subscribeToStatuses(conversationId),
      resolve: (event: MessageStatusEvent) => event,
    },
  },
  Conversation: {
    bot: (conversation, _args, { loaders }) => loadExisting(loaders.bot, 'Bot', conversation.botId),
    messages: (conversation, { last }, { chat }) => chat.messages(conversation, last),
  },
};
