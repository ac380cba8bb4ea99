import type { MessageStatusPubSub } from '../pubsub/message-status-pubsub';
import { DuplicateClientMessageError, type MessagesRepo } from '../repos/messages';
import type { ChatWritePath } from './write-path';

/** The rollback mode's write path: one PostgreSQL transaction per exchange, then PERSISTED events. */
export function createDirectWritePath(deps: { messages: MessagesRepo; pubsub: MessageStatusPubSub }): ChatWritePath {
  return {
    async write(exchange) {
      const { conversation, message, reply } = exchange;
      try {
        await deps.messages.insertExchange(exchange);
      } catch (error: unknown) {
        // A retried send: the unique index on clientMessageId, not a look-up before every
        // send, decides, so a first send costs no extra query and concurrent retries cannot
        // both win. The retry gets the stored result; its own attempt was rolled back.
        if (!(error instanceof DuplicateClientMessageError) || !message.clientMessageId || !message.senderId)
          throw error;
        const stored = await deps.messages.findByClientMessageId({
          botId: conversation.botId,
          senderId: message.senderId,
          clientMessageId: message.clientMessageId,
        });
        if (!stored) throw error;
        return { kind: 'DUPLICATE', message: stored.message, reply: stored.reply ?? null };
      }
      await Promise.all(
        [message, reply].map((m) =>
          deps.pubsub.publish({ messageId: m.id, conversationId: conversation.id, status: 'PERSISTED', error: null }),
        ),
      );
      return { kind: 'ACCEPTED', status: 'PERSISTED' };
    },
  };
}
