import { NotFoundError } from '../core/errors';
import type { MessageStatusPubSub } from '../pubsub/message-status-pubsub';
import type { MessagesRepo } from '../repos/messages';
import type { ChatWritePath } from './write-path';

/**
 * The rollback mode's write path, and the buffered path's fallback while Redis is down: one
 * PostgreSQL transaction per exchange, then PERSISTED events.
 */
export function createDirectWritePath(deps: { messages: MessagesRepo; pubsub: MessageStatusPubSub }): ChatWritePath {
  return {
    async write(exchange) {
      const { conversation, message, reply } = exchange;
      const [outcome] = await deps.messages.persistExchanges([exchange]);
      if (outcome === 'BOT_GONE') throw new NotFoundError('Bot', conversation.botId);
      if (outcome === 'DUPLICATE') {
        // A retried send: the unique index decided, and the retry gets the stored answer.
        const stored = await deps.messages.findByClientMessageId({
          botId: conversation.botId,
          senderId: message.senderId!,
          clientMessageId: message.clientMessageId!,
        });
        if (!stored)
          throw new Error('A send was refused as a retry, but no earlier send with its clientMessageId exists.');
        return { kind: 'DUPLICATE', message: stored.message, reply: stored.reply ?? null };
      }
      await deps.pubsub.publish(
        [message, reply].map((m) => ({
          messageId: m.id,
          conversationId: conversation.id,
          status: 'PERSISTED',
          error: null,
        })),
      );
      return { kind: 'ACCEPTED', status: 'PERSISTED' };
    },
  };
}
