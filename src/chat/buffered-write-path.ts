import { createThrottledWarn } from '../core/throttled-warn';
import type { ChatWritePath } from './write-path';
import { OverloadedError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { MessagesRepo } from '../repos/messages';
import { intentFromExchange, messagesOf } from '../buffer/intent';
import type { WriteBuffer } from '../buffer/write-buffer';

/**
 * A full buffer drains at the workers' pace: a few seconds is a fair first wait, and clients
 * that honour it spread their retries instead of hammering a queue that cannot grow.
 */
const FULL_RETRY_AFTER_SECONDS = 2;

export interface BufferedWritePathStats {
  /** Sends written through to PostgreSQL because the buffer could not take them, or not on enough replicas. */
  fallbacks: number;
  /** When the last of them happened (epoch ms); null before the first. */
  lastFallbackAt: number | null;
  /** Sends refused because the buffer was full. */
  refusedFull: number;
}

/**
 * The write path while Redis is on: the intent's push is the acknowledgement (QUEUED) and a
 * worker stores it. When the push fails (Redis down, out of memory, too slow), the send is
 * written straight to PostgreSQL instead, with the same ids: should the push have landed
 * after all, the flush finds the rows there and stores nothing twice.
 */
export function createBufferedWritePath(deps: {
  buffer: WriteBuffer;
  direct: ChatWritePath;
  /** Where a retry's first send is looked up once the buffer no longer holds it. */
  messages: Pick<MessagesRepo, 'findByIds' | 'findByClientMessageId'>;
  log: Logger;
  /** Default Date.now. */
  now?: () => number;
}): ChatWritePath & { stats: BufferedWritePathStats } {
  const now = deps.now ?? Date.now;
  const warn = createThrottledWarn(deps.log, 60_000);
  const stats: BufferedWritePathStats = { fallbacks: 0, lastFallbackAt: null, refusedFull: 0 };
  return {
    stats,
    async write(exchange) {
      const intent = intentFromExchange(exchange, now());
      let pushed: Awaited<ReturnType<WriteBuffer['push']>>;
      try {
        pushed = await deps.buffer.push(intent);
      } catch (error: unknown) {
        stats.fallbacks++;
        stats.lastFallbackAt = now();
        warn(error, 'the write buffer did not take a send; writing it straight to PostgreSQL');
        return deps.direct.write(exchange);
      }
      if (pushed.kind === 'UNREPLICATED') {
        // In the buffer, but on too few replicas to survive its master: PostgreSQL makes it
        // durable now, and the flush later finds it there and stores nothing twice.
        stats.fallbacks++;
        stats.lastFallbackAt = now();
        warn(
          new Error(`${pushed.replicas} replicas acknowledged in time`),
          'the write buffer could not replicate a send in time; writing it straight to PostgreSQL',
        );
        return deps.direct.write(exchange);
      }
      if (pushed.kind === 'FULL') {
        stats.refusedFull++;
        throw new OverloadedError(
          FULL_RETRY_AFTER_SECONDS,
          `Too many messages are waiting to be stored: try again in ${FULL_RETRY_AFTER_SECONDS} s.`,
        );
      }
      if (pushed.kind === 'DUPLICATE') {
        const [message, reply] = messagesOf(pushed.first, 'PERSISTED');
        const held = (await deps.buffer.statuses([message.id]).catch(() => new Map())).get(message.id);
        if (held)
          return {
            kind: 'DUPLICATE',
            message: { ...message, status: held.status },
            reply: { ...reply, status: held.status },
          };
        // Out of the buffer: stored, or dropped as a copy of a message PostgreSQL already had
        // under other ids (its first send went there directly, or Redis lost the key). The
        // stored one is the answer, never ids that do not exist.
        const [stored] = await deps.messages.findByIds([message.id]);
        if (stored)
          return {
            kind: 'DUPLICATE',
            message: { ...message, status: 'PERSISTED' },
            reply: { ...reply, status: 'PERSISTED' },
          };
        const first = await deps.messages.findByClientMessageId({
          botId: exchange.conversation.botId,
          senderId: exchange.message.senderId!,
          clientMessageId: exchange.message.clientMessageId!,
        });
        if (first) return { kind: 'DUPLICATE', message: first.message, reply: first.reply ?? null };
        // Neither: its dead letter was dropped. The sender may send it again, under a new id.
        return { kind: 'DUPLICATE', message: { ...message, status: 'FAILED' }, reply: { ...reply, status: 'FAILED' } };
      }
      return { kind: 'ACCEPTED', status: 'QUEUED' };
    },
  };
}
