import type { Access } from '../auth/access';
import { BadUserInputError, ForbiddenError, NotFoundError } from '../core/errors';
import type { ChatWritePath } from './write-path';
import type { BufferShards } from '../buffer/shards';
import { loadExisting, type Loaders } from '../loaders/create-loaders';
import type { BotsRepo } from '../repos/bots';
import type { ConversationsRepo } from '../repos/conversations';
import type { MessagesRepo, NewMessage } from '../repos/messages';
import type { BotRecord, ConversationRecord, MessageRecord, MessageStatus } from '../repos/records';
import type { Retriever } from '../search/retriever';
import type { SessionService, StartedSession } from '../sessions/session-service';
import { prepend, type MessageStatusEvent, type MessageStatusPubSub } from '../pubsub/message-status-pubsub';
import { mergeMessages, type PendingWrites } from '../buffer/pending-writes';
import type { EventLoopPressure } from './event-loop-pressure';
import { requireId, requireIntInRange, requireText } from '../core/validation';
import { buildReply } from './reply-builder';

const MESSAGE_MAX = 4000;
const CLIENT_MESSAGE_ID_MAX = 100;
const STATUS_IDS_MAX = 100;
/** How many recent messages a status subscription starts with. */
const SNAPSHOT_MESSAGES = 50;
/** How many of the best chunks the reply is chosen from. */
const REPLY_CANDIDATES = 3;

export interface SendMessageInput {
  botId: string;
  conversationId?: string | null;
  text: string;
  clientMessageId?: string | null;
}

export interface SendMessageResult {
  conversationId: string;
  message: MessageRecord;
  reply: MessageRecord | null;
}

/** Where new ids come from: the write buffer keeps a conversation's intents in the shard its ids name. */
export type ChatIds = Pick<BufferShards, 'newConversationId' | 'newMessageId'>;

export interface ChatDeps {
  access: Access;
  loaders: Loaders;
  bots: BotsRepo;
  conversations: ConversationsRepo;
  /** Reads of stored messages; writes go through `writePath`. */
  messages: MessagesRepo;
  writePath: ChatWritePath;
  ids: ChatIds;
  /** Sent messages not yet in PostgreSQL (the write buffer's), shown with the stored ones. */
  pending: PendingWrites;
  /** Refuses sends while this process is saturated. */
  pressure: Pick<EventLoopPressure, 'check'>;
  /** The page a browser request comes from, checked against a bot's allowed origins. */
  origin?: string;
  sessions: SessionService;
  retriever: Retriever;
  pubsub: MessageStatusPubSub;
}

const toEvent = (message: MessageRecord): MessageStatusEvent => ({
  messageId: message.id,
  conversationId: message.conversationId,
  status: message.status,
  error: null,
});

export type ChatService = ReturnType<typeof createChatService>;

export function createChatService(deps: ChatDeps) {
  const { access, loaders } = deps;

  /** The bot this viewer may chat with, and who they are as a sender. */
  const chatter = async (botId: string): Promise<{ bot: BotRecord; senderId: string }> => {
    const viewer = access.requireViewer();
    if (viewer.kind === 'USER') return { bot: await access.ownedBot(botId), senderId: viewer.userId };
    const id = requireId(botId, 'botId');
    if (id !== viewer.botId) throw new ForbiddenError('This widget session belongs to another bot.');
    return { bot: await loadExisting(loaders.bot, 'Bot', id), senderId: viewer.visitorId };
  };

  /** An existing conversation the sender may post to, or a new one. */
  const conversationFor = async (
    bot: BotRecord,
    senderId: string,
    conversationId: string | null | undefined,
    clientMessageId: string | undefined,
  ): Promise<Pick<ConversationRecord, 'id' | 'botId' | 'ownerUserId' | 'visitorId'>> => {
    const viewer = access.requireViewer();
    if (conversationId == null) {
      return {
        // A retried first message gets a new conversation id, in the shard of the first attempt.
        id: deps.ids.newConversationId(bot.id, senderId, clientMessageId),
        botId: bot.id,
        ownerUserId: viewer.kind === 'USER' ? senderId : null,
        visitorId: viewer.kind === 'VISITOR' ? senderId : null,
      };
    }
    const conversation = await access.readableConversation(conversationId, 'conversationId');
    if (conversation.botId !== bot.id) {
      throw new BadUserInputError('conversationId belongs to another bot.', 'conversationId');
    }
    if (conversation.ownerUserId !== senderId && conversation.visitorId !== senderId) {
      // Owners may read their visitors' conversations, but not speak in them.
      throw new ForbiddenError('Only the person who started this conversation can post to it.');
    }
    return conversation;
  };

  const asRecord = (
    message: NewMessage,
    conversationId: string,
    botId: string,
    status: MessageStatus,
  ): MessageRecord => ({
    id: message.id,
    conversationId,
    botId,
    role: message.role,
    content: message.content,
    status,
    createdAt: message.createdAt,
  });

  /**
   * Stored and still buffered messages together, oldest first. The buffer is read first: an
   * intent leaves it only after its COMMIT, so nothing can slip between the two reads.
   */
  const recentMessages = async (conversationId: string, count: number): Promise<MessageRecord[]> => {
    const pending = await deps.pending.messages(conversationId);
    const stored = await deps.messages.listLast(conversationId, count);
    return mergeMessages(stored, pending, count);
  };

  return {
    async startWidgetSession(publicKey: string): Promise<StartedSession & { bot: BotRecord }> {
      const key = requireText(publicKey, 'publicKey', { max: 100 });
      const bot = await deps.bots.findByPublicKey(key);
      if (!bot) throw new NotFoundError('Bot with public key', key);
      // Only a browser says which page it is on; a request without Origin is no page's, and the
      // list is about which sites may show the chat.
      if (deps.origin !== undefined && bot.allowedOrigins.length > 0 && !bot.allowedOrigins.includes(deps.origin)) {
        throw new ForbiddenError('This chat is not available on this site.');
      }
      return { ...(await deps.sessions.startVisitorSession(bot.id)), bot };
    },

    async sendMessage(input: SendMessageInput): Promise<SendMessageResult> {
      deps.pressure.check();
      const text = requireText(input.text, 'text', { max: MESSAGE_MAX });
      const clientMessageId =
        input.clientMessageId == null
          ? undefined
          : requireText(input.clientMessageId, 'clientMessageId', { max: CLIENT_MESSAGE_ID_MAX });
      const { bot, senderId } = await chatter(input.botId);

      const conversation = await conversationFor(bot, senderId, input.conversationId, clientMessageId);
      const message: NewMessage = {
        id: deps.ids.newMessageId(conversation.id),
        role: 'USER',
        content: text,
        createdAt: new Date(),
        senderId,
        clientMessageId,
      };
      const matches = await deps.retriever.retrieve(bot.id, text, REPLY_CANDIDATES);
      const reply: NewMessage = {
        id: deps.ids.newMessageId(conversation.id),
        role: 'ASSISTANT',
        content: buildReply(matches),
        createdAt: new Date(),
        replyTo: message.id,
      };

      const outcome = await deps.writePath.write({ conversation, message, reply });
      if (outcome.kind === 'DUPLICATE') {
        // An idempotency key names one message: reused for another text, it is a client bug
        // that would otherwise silently drop what the visitor typed.
        if (outcome.message.content !== text) {
          throw new BadUserInputError(
            'clientMessageId was already used for a different message: send a new id for a new message.',
            'clientMessageId',
          );
        }
        return { conversationId: outcome.message.conversationId, message: outcome.message, reply: outcome.reply };
      }
      if (input.conversationId == null && outcome.status === 'QUEUED') {
        // What the buffer would answer for it until the flush, and PostgreSQL after.
        void loaders.startedConversation({
          ...conversation,
          createdAt: message.createdAt,
          lastMessageAt: reply.createdAt,
        });
      }
      return {
        conversationId: conversation.id,
        message: asRecord(message, conversation.id, bot.id, outcome.status),
        reply: asRecord(reply, conversation.id, bot.id, outcome.status),
      };
    },

    conversation: (id: string) => access.readableConversation(id),

    /** For the bot's owner (checked by the caller): its stored conversations, most recently active first. */
    conversationsOfBot(botId: string, first: number | null | undefined): Promise<ConversationRecord[]> {
      const count = requireIntInRange(first, 'first', { min: 1, max: 100, fallback: 20 });
      return deps.conversations.listByBot(botId, count);
    },

    async messages(conversation: ConversationRecord, last: number | null | undefined): Promise<MessageRecord[]> {
      const count = requireIntInRange(last, 'last', { min: 1, max: 500, fallback: 50 });
      return recentMessages(conversation.id, count);
    },

    /** Statuses of the viewer's messages; ids the viewer may not see are left out like unknown ones. */
    async messageStatuses(ids: readonly string[]): Promise<MessageStatusEvent[]> {
      access.requireViewer();
      if (ids.length > STATUS_IDS_MAX) throw new BadUserInputError(`ids takes at most ${STATUS_IDS_MAX} ids.`, 'ids');
      const valid = [...new Set(ids.map((id) => requireId(id, 'ids')))];
      if (valid.length === 0) return [];
      // The buffer first (as in recentMessages): what it holds is QUEUED or FAILED; the rest is
      // stored, or unknown.
      const held = await deps.pending.statuses(valid);
      const stored = await deps.messages.findByIds(valid.filter((id) => !held.has(id)));
      const found = new Map<string, MessageStatusEvent>([
        ...[...held].map(([messageId, { conversationId, status, error }]): [string, MessageStatusEvent] => [
          messageId,
          { messageId, conversationId, status, error },
        ]),
        ...stored.map((message): [string, MessageStatusEvent] => [message.id, toEvent(message)]),
      ]);
      const conversations = [...new Set([...found.values()].map((event) => event.conversationId))];
      const readable = new Set(
        (
          await Promise.all(
            conversations.map((id) =>
              access.readableConversation(id).then(
                () => id,
                () => undefined,
              ),
            ),
          )
        ).filter((id) => id !== undefined),
      );
      return valid.flatMap((id) => {
        const event = found.get(id);
        return event && readable.has(event.conversationId) ? [event] : [];
      });
    },

    /**
     * Live status events for a conversation, preceded by the current status of its
     * recent messages: pub/sub is at-most-once, so a client that missed an event
     * learns the outcome on (re)subscribing. The subscription is live before the snapshot
     * is read, so nothing falls between the two.
     */
    async subscribeToStatuses(conversationId: string): Promise<AsyncIterableIterator<MessageStatusEvent>> {
      const conversation = await access.readableConversation(conversationId, 'conversationId');
      const live = await deps.pubsub.subscribe(conversation.id);
      try {
        const recent = await recentMessages(conversation.id, SNAPSHOT_MESSAGES);
        // A dead-lettered message's event carries why; the buffer keeps that beside its status.
        const failed = recent.filter((message) => message.status === 'FAILED').map((message) => message.id);
        const errors = await deps.pending.statuses(failed);
        return prepend(
          recent.map((message) => ({ ...toEvent(message), error: errors.get(message.id)?.error ?? null })),
          live,
        );
      } catch (error: unknown) {
        await live.return?.();
        throw error;
      }
    },
  };
}
