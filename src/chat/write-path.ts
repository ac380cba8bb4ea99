import type { Exchange } from '../repos/messages';
import type { MessageRecord, MessageStatus } from '../repos/records';

/** How a send was taken: stored or queued with `status`, or a retry answered with the first send's messages. */
type WriteOutcome =
  | { kind: 'ACCEPTED'; status: MessageStatus }
  | { kind: 'DUPLICATE'; message: MessageRecord; reply: MessageRecord | null };

/**
 * Where a chat exchange goes once it is validated: straight into PostgreSQL (rollback
 * mode) or into the Redis write buffer. The chat service never knows which one is live.
 * The returned promise resolves when the exchange is acknowledged: from then on it must
 * reach PostgreSQL exactly once, and its status events are this path's to publish.
 */
export interface ChatWritePath {
  write(exchange: Exchange): Promise<WriteOutcome>;
}
