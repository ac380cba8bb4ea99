import { createThrottledWarn } from '../core/throttled-warn';
import type { Logger } from '../core/logger';
import type { ConversationRecord, MessageRecord } from '../repos/records';
import { conversationOf, messagesOf } from './intent';
import type { BufferedStatus, WriteBuffer } from './write-buffer';

/**
 * What the read path adds from writes not yet in PostgreSQL, so a sender sees their message
 * at once on any instance (read-your-writes). In rollback mode there are none. A Redis that
 * cannot answer adds nothing rather than failing the read: PostgreSQL still answers.
 */
export interface PendingWrites {
  /** A conversation's messages still in the buffer: QUEUED, or FAILED once dead-lettered. */
  messages(conversationId: string): Promise<MessageRecord[]>;
  /** Statuses of the messages among `ids` that the buffer holds. */
  statuses(ids: readonly string[]): Promise<Map<string, BufferedStatus>>;
  /** Conversations that exist only in the buffer so far. */
  conversations(ids: readonly string[]): Promise<Map<string, ConversationRecord>>;
}

export const noPendingWrites: PendingWrites = {
  messages: async () => [],
  statuses: async () => new Map(),
  conversations: async () => new Map(),
};

export function createPendingWrites(deps: { buffer: WriteBuffer; log: Logger }): PendingWrites {
  const warn = createThrottledWarn(deps.log, 60_000);
  const orNothing = async <T>(read: () => Promise<T>, nothing: T): Promise<T> => {
    try {
      return await read();
    } catch (error: unknown) {
      warn(error, 'could not read the write buffer; answering from PostgreSQL alone');
      return nothing;
    }
  };
  return {
    messages: (conversationId) =>
      orNothing(async () => {
        const held = await deps.buffer.conversationIntents(conversationId);
        return held.flatMap(({ intent, status }) => messagesOf(intent, status.status));
      }, []),
    statuses: (ids) => orNothing(() => deps.buffer.statuses(ids), new Map()),
    conversations: (ids) =>
      orNothing(async () => {
        const intents = await deps.buffer.conversations(ids);
        return new Map([...intents].map(([id, intent]) => [id, conversationOf(intent)]));
      }, new Map()),
  };
}

/**
 * The last `last` of a conversation's messages, oldest first, from PostgreSQL's and the
 * buffer's: a message in both (flushed between the two reads) counts once, as stored.
 */
export function mergeMessages(stored: MessageRecord[], pending: MessageRecord[], last: number): MessageRecord[] {
  if (pending.length === 0) return stored;
  const byId = new Map(pending.map((message) => [message.id, message]));
  for (const message of stored) byId.set(message.id, message);
  return [...byId.values()]
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(-last);
}
