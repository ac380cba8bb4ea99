import type { PubSubEngine } from 'graphql-subscriptions';
import { createThrottledWarn } from '../core/throttled-warn';
import type { Logger } from '../core/logger';
import type { MessageStatus } from '../repos/records';
import { groupBy } from '../core/group-by';

export interface MessageStatusEvent {
  messageId: string;
  conversationId: string;
  status: MessageStatus;
  error: string | null;
}

/** Status events by conversation: in-process in rollback mode, over Redis pub/sub across instances otherwise. */
export interface MessageStatusPubSub {
  /**
   * One message per conversation however many events it has for it (a send's two messages, a
   * batch's). Best effort, never rejects: pub/sub is at-most-once anyway, and a subscriber learns
   * a missed outcome from the snapshot it gets on (re)subscribing. A write that committed must
   * not fail because its announcement did.
   */
  publish(events: MessageStatusEvent[]): Promise<void>;
  /** Resolves once the subscription is live (Redis confirmed it): every event published afterwards arrives. */
  subscribe(conversationId: string): Promise<AsyncIterableIterator<MessageStatusEvent>>;
}

/** The pub/sub channel of a conversation's status events; the write buffer's push script publishes on it too. */
export const messageStatusChannel = (prefix: string, conversationId: string) =>
  `${prefix}message-status:${conversationId}`;

/**
 * Events a slow subscriber may leave unread before its stream ends: it then re-subscribes
 * and gets a fresh snapshot, instead of this process buffering without bound.
 */
const MAX_UNREAD_EVENTS = 1000;

/**
 * Over any graphql-subscriptions engine: `PubSub` (in-process) or graphql-redis-subscriptions'
 * `RedisPubSub`. Channels carry the deployment's key prefix, so deployments sharing a Redis
 * never hear each other.
 */
export function createMessageStatusPubSub(deps: {
  engine: PubSubEngine;
  channelPrefix: string;
  log: Logger;
}): MessageStatusPubSub {
  const { engine, log } = deps;
  const channel = (conversationId: string) => messageStatusChannel(deps.channelPrefix, conversationId);
  const warn = createThrottledWarn(log, 10_000);
  return {
    async publish(events) {
      try {
        await Promise.all(
          [...groupBy(events, (event) => event.conversationId)].map(([conversationId, ofConversation]) =>
            engine.publish(channel(conversationId), ofConversation),
          ),
        );
      } catch (error: unknown) {
        warn(error, 'could not publish a message status event; subscribers catch up on re-subscribing');
      }
    },
    async subscribe(conversationId) {
      const queue = new EventQueue<MessageStatusEvent>(MAX_UNREAD_EVENTS);
      // A message is a list of events (one event alone from a process of an earlier release).
      const id = await engine.subscribe(
        channel(conversationId),
        (message: MessageStatusEvent[] | MessageStatusEvent) => {
          for (const event of [message].flat()) queue.push(event);
        },
        {},
      );
      queue.onClose(() => engine.unsubscribe(id));
      return queue.iterator();
    },
  };
}

/** A pushed-to queue read as an async iterator; closing it (return) runs `onClose` once. */
class EventQueue<T> {
  private readonly values: T[] = [];
  private readonly waiting: ((result: IteratorResult<T>) => void)[] = [];
  private closed = false;
  private closeListener: (() => void) | undefined;

  constructor(private readonly capacity: number) {}

  push(value: T): void {
    if (this.closed) return;
    const waiter = this.waiting.shift();
    if (waiter) waiter({ value, done: false });
    else if (this.values.length < this.capacity) this.values.push(value);
    else this.close();
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.values.length = 0;
    for (const waiter of this.waiting.splice(0)) waiter({ value: undefined, done: true });
    this.closeListener?.();
  }

  iterator(): AsyncIterableIterator<T> {
    const iterator: AsyncIterableIterator<T> = {
      next: () => {
        if (this.values.length > 0) return Promise.resolve({ value: this.values.shift() as T, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      throw: (error?: unknown) => {
        this.close();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}

/**
 * Yields `first` and then whatever `live` yields. A hand-written iterator rather than
 * an async generator: a generator cannot be closed while it awaits `live.next()`, so an
 * unsubscribing client would leak the live subscription until its next event.
 */
export function prepend<T>(first: T[], live: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const queue = [...first];
  const iterator: AsyncIterableIterator<T> = {
    next: () => (queue.length > 0 ? Promise.resolve({ value: queue.shift() as T, done: false }) : live.next()),
    return: (value?: unknown) => {
      queue.length = 0;
      return live.return ? live.return(value) : Promise.resolve({ value: undefined, done: true });
    },
    throw: (error?: unknown) => {
      queue.length = 0;
      return live.throw ? live.throw(error) : Promise.reject(error);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
