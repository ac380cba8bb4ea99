import { z } from 'zod';
import type { Exchange } from '../repos/messages';
import type { ConversationRecord, MessageRecord, MessageStatus } from '../repos/records';

/**
 * One acknowledged chat exchange in the write buffer: a user's message, the bot's reply and
 * the conversation they belong to. The api writes it and the worker reads it, possibly
 * different releases of each during a deploy: every intent names its version, and both
 * sides parse it with this one schema. A change of shape is a new version the worker
 * learns to read before any api writes it.
 */
export const INTENT_VERSION = 1;

const uuid = z.uuid();
const instant = z.iso.datetime({ offset: true }).transform((value) => new Date(value));

const messageSchema = z.object({
  id: uuid,
  content: z.string(),
  createdAt: instant,
});

const intentSchema = z.object({
  v: z.literal(INTENT_VERSION),
  /** When the api pushed it (epoch ms): how long it waited is the buffer's lag. */
  enqueuedAt: z.number().int().nonnegative(),
  /** Failed flush attempts so far; the intent is dead-lettered when it reaches the maximum. */
  attempts: z.number().int().nonnegative(),
  conversation: z.object({
    id: uuid,
    botId: uuid,
    ownerUserId: uuid.nullable(),
    visitorId: uuid.nullable(),
  }),
  message: messageSchema.extend({
    senderId: uuid,
    clientMessageId: z.string().min(1).max(100).optional(),
  }),
  reply: messageSchema,
});

export type Intent = z.output<typeof intentSchema>;

/** The intent's id is its user message's id: unique, and what status look-ups start from. */
export const intentId = (intent: Pick<Intent, 'message'>): string => intent.message.id;

export class InvalidIntentError extends Error {
  override readonly name = 'InvalidIntentError';
}

export function intentFromExchange(exchange: Exchange, enqueuedAt: number): Intent {
  const { conversation, message, reply } = exchange;
  if (!message.senderId) throw new Error('A buffered message needs its sender.');
  return {
    v: INTENT_VERSION,
    enqueuedAt,
    attempts: 0,
    conversation: {
      id: conversation.id,
      botId: conversation.botId,
      ownerUserId: conversation.ownerUserId,
      visitorId: conversation.visitorId,
    },
    message: {
      id: message.id,
      content: message.content,
      createdAt: message.createdAt,
      senderId: message.senderId,
      ...(message.clientMessageId ? { clientMessageId: message.clientMessageId } : {}),
    },
    reply: { id: reply.id, content: reply.content, createdAt: reply.createdAt },
  };
}

export function exchangeFromIntent(intent: Intent): Exchange {
  const { conversation, message, reply } = intent;
  return {
    conversation,
    message: {
      id: message.id,
      role: 'USER',
      content: message.content,
      createdAt: message.createdAt,
      senderId: message.senderId,
      clientMessageId: message.clientMessageId,
    },
    reply: { id: reply.id, role: 'ASSISTANT', content: reply.content, createdAt: reply.createdAt, replyTo: message.id },
  };
}

/** Dates travel as ISO strings (JSON has no dates); the schema turns them back. */
export const encodeIntent = (intent: Intent): string => JSON.stringify(intent);

/** Parses what the buffer holds; throws InvalidIntentError (never retried: it cannot get better). */
export function decodeIntent(raw: string): Intent {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new InvalidIntentError('The intent is not JSON.');
  }
  const parsed = intentSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidIntentError(
      `The intent does not match version ${INTENT_VERSION}: ${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** The intent's conversation as the read path shows it before it reaches PostgreSQL. */
export function conversationOf(intent: Intent): ConversationRecord {
  return { ...intent.conversation, createdAt: intent.message.createdAt, lastMessageAt: intent.reply.createdAt };
}

/** The intent's two messages as the read path shows them, with `status`. */
export function messagesOf(intent: Intent, status: MessageStatus): [MessageRecord, MessageRecord] {
  const base = { conversationId: intent.conversation.id, botId: intent.conversation.botId, status };
  return [
    {
      ...base,
      id: intent.message.id,
      role: 'USER',
      content: intent.message.content,
      createdAt: intent.message.createdAt,
    },
    {
      ...base,
      id: intent.reply.id,
      role: 'ASSISTANT',
      content: intent.reply.content,
      createdAt: intent.reply.createdAt,
    },
  ];
}
