import { PubSub } from 'graphql-subscriptions';
import type { MessageStatus } from '../repos/records';

export interface MessageStatusEvent {
  messageId: string;
  conversationId: string;
  status: MessageStatus;
  error: string | null;
}

/** Status events by conversation. In-process for now; a Redis-backed one replaces it for scale-out. */
export interface MessageStatusPubSub {
  publish(event: MessageStatusEvent): Promise<void>;
  /** Listens from the moment it returns: events published before the first `next()` are queued, not lost. */
  subscribe(conversationId: string): AsyncIterableIterator<MessageStatusEvent>;
}

const topic = (conversationId: string) => `MESSAGE_STATUS.${conversationId}`;

export function createInProcessPubSub(): MessageStatusPubSub {
  const pubsub = new PubSub<Record<string, MessageStatusEvent>>();
  return {
    publish: (event) => pubsub.publish(topic(event.conversationId), event),
    subscribe: (conversationId) => listening(pubsub.asyncIterableIterator(topic(conversationId))),
  };
}

/**
 * graphql-subscriptions' iterators subscribe on their first `next()`, which the caller
 * makes only after it has read and sent its snapshot: an event published in between was
 * dropped. Pulling once right away starts the subscription now; that pull is the first result.
 */
function listening<T>(iterator: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  let first: Promise<IteratorResult<T>> | undefined = iterator.next();
  const started: AsyncIterableIterator<T> = {
    next: () => {
      const result = first ?? iterator.next();
      first = undefined;
      return result;
    },
    return: (value?: unknown) => {
      first = undefined;
      return iterator.return ? iterator.return(value) : Promise.resolve({ value: undefined, done: true });
    },
    throw: (error?: unknown) => {
      first = undefined;
      return iterator.throw ? iterator.throw(error) : Promise.reject(error);
    },
    [Symbol.asyncIterator]: () => started,
  };
  return started;
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
