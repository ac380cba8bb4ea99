// What the write peers share: the `sendMessage` schema (Parley's input and payload, as the write
// benchmark selects them), Parley's checks on the input (same limits, same error codes in
// `extensions.code`), the ownership checks, and the fixed reply.
import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';

export const typeDefs = `#graphql
  enum MessageRole { USER ASSISTANT }
  enum MessageStatus { QUEUED PERSISTED FAILED }
  type Message {
    id: ID!
    conversationId: ID!
    role: MessageRole!
    content: String!
    status: MessageStatus!
    createdAt: String!
  }
  type SendMessagePayload { conversationId: ID! message: Message! reply: Message }
  input SendMessageInput { botId: ID! conversationId: ID text: String! clientMessageId: ID }
  type Query { ok: Boolean! }
  type Mutation { sendMessage(input: SendMessageInput!): SendMessagePayload }
`;

/**
 * Every peer answers with this text, where Parley retrieves from the bot's sources and quotes
 * them: the peers do no retrieval. It is Parley's own answer when nothing matches.
 */
export const REPLY_TEXT =
  "I couldn't find anything about that in this bot's sources. Try rephrasing, or ask about a topic the sources cover.";

const TEXT_MAX = 4000;
const CLIENT_MESSAGE_ID_MAX = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An error for the client: `code` goes to `extensions.code`, `field` (if any) to `extensions.field`. */
export class PeerError extends GraphQLError {
  constructor(code, message, field) {
    super(message, { extensions: field ? { code, field } : { code } });
  }
}

const requireId = (value, field) => {
  if (!UUID.test(value)) throw new PeerError('BAD_USER_INPUT', `${field} must be a valid id.`, field);
  return value.toLowerCase();
};

const requireText = (value, field, max) => {
  // PostgreSQL text cannot store U+0000.
  if (value.includes('\u0000'))
    throw new PeerError('BAD_USER_INPUT', `${field} must not contain NUL characters.`, field);
  const text = value.trim();
  const length = [...text].length;
  if (length < 1) throw new PeerError('BAD_USER_INPUT', `${field} must not be empty.`, field);
  if (length > max) throw new PeerError('BAD_USER_INPUT', `${field} must be at most ${max} characters.`, field);
  return text;
};

/** The signed-in user's id, or UNAUTHENTICATED. */
export function requireUser(userId) {
  if (!userId) throw new PeerError('UNAUTHENTICATED', 'Sign in first: send `Authorization: Bearer <token>`.');
  return userId;
}

/** `sendMessage`'s input checked as Parley checks it: ids lower-cased, texts trimmed. */
export function readSendInput(input) {
  return {
    botId: requireId(input.botId, 'botId'),
    conversationId: input.conversationId == null ? null : requireId(input.conversationId, 'conversationId'),
    text: requireText(input.text, 'text', TEXT_MAX),
    clientMessageId:
      input.clientMessageId == null
        ? null
        : requireText(input.clientMessageId, 'clientMessageId', CLIENT_MESSAGE_ID_MAX),
  };
}

/** Checks that bot `botId` exists and is `userId`'s, with one read through `executor` (a pool or a client). */
export async function requireOwnBot(executor, botId, userId) {
  const { rows } = await executor.query('SELECT owner_id FROM bots WHERE id = $1', [botId]);
  if (rows.length === 0) throw new PeerError('NOT_FOUND', `Bot ${botId} was not found.`);
  if (rows[0].owner_id !== userId) throw new PeerError('FORBIDDEN', 'This bot belongs to another account.');
}

/**
 * Checks that `userId` may post to conversation `conversationId` of bot `botId`, given what is
 * known of it (`found`: its `bot_id` and `owner_user_id`, or undefined if it does not exist).
 */
export function requireOwnConversation(found, { conversationId, botId, userId }) {
  if (!found) throw new PeerError('NOT_FOUND', `Conversation ${conversationId} was not found.`);
  if (found.owner_user_id !== userId) {
    throw new PeerError('FORBIDDEN', 'Only the person who started this conversation can post to it.');
  }
  if (found.bot_id !== botId) {
    throw new PeerError('BAD_USER_INPUT', 'conversationId belongs to another bot.', 'conversationId');
  }
}

/**
 * The user's message and the reply to it, with new ids. The reply is a millisecond later: with
 * random ids, a tie in `created_at` would leave the pair's order to chance.
 */
export function newExchange(text) {
  const messageAt = new Date();
  return {
    message: { id: randomUUID(), content: text, createdAt: messageAt },
    reply: { id: randomUUID(), content: REPLY_TEXT, createdAt: new Date(messageAt.getTime() + 1) },
  };
}

/** The `SendMessagePayload` for a stored or accepted exchange. */
export function toPayload({ conversationId, message, reply, status }) {
  const asMessage = (m, role) => ({
    id: m.id,
    conversationId,
    role,
    content: m.content,
    status,
    createdAt: new Date(m.createdAt).toISOString(),
  });
  return { conversationId, message: asMessage(message, 'USER'), reply: reply && asMessage(reply, 'ASSISTANT') };
}
