import type { PubSubEngine } from 'graphql-subscriptions';
import { createThrottledWarn } from '../core/throttled-warn';
import type { Logger } from '../core/logger';
import type { MessageStatus } from '../repos/records';

export interface MessageStatusEvent {
  messageId: string;
  conversationId: string;
  status: MessageStatus;
  error: string | null;
}

/** Status events by conversation: in-process in rollback mode, over Redis pub/sub across instances otherwise. */
export interface MessageStatusPubSub {
  /**
   * Outcomes (PERSISTED, FAILED) of any number of conversations, in one message on the channel
   * every instance listens on: a worker's flush announces its whole batch with one PUBLISH.
   * Best effort, never rejects: pub/sub is at-most-once anyway, and a subscriber learns a missed
   * outcome from the snapshot it gets on (re)subscribing. A write that committed must not fail
   * because its announcement did.
   */
  publish(events: MessageStatusEvent[]): Promise<void>;
  /** Resolves once the subscription is live (Redis confirmed it): every event published afterwards arrives. */
  subscribe(conversationId: string): Promise<AsyncIterableIterator<MessageStatusEvent>>;
}

/**
 * The pub/sub channel of one conversation's QUEUED events, which the write buffer's push
 * script publishes with each send: only instances with a subscriber for the conversation get them.
 */
export const messageStatusChannel = (prefix: string, conversationId: string) =>
  `${prefix}message-status:${conversationId}`;

/**
 * The channel of outcomes, all conversations in one: a flush stores sends of dozens of
 * conversations at once, and announcing them costs one PUBLISH, not one each. Every instance
 * with subscribers listens and hands each event to its conversation's subscribers here. Redis
 * delivers one connection's messages in the order it ran the PUBLISHes, so a send's QUEUED
 * (published when it was queued) still comes before its PERSISTED.
 */
export const messageOutcomesChannel = (prefix: string) => `${prefix}message-status`;

/**
 * Events a slow subscriber may leave unread before its stream ends: it then re-subscribes
 * and gets a fresh snapshot, instead of this process buffering without bound.
 */
const MAX_UNREAD_EVENTS = 1000;

/** A message is a list of events (one event alone from a process of an earlier release). */
const eventsOf = (message: MessageStatusEvent[] | MessageStatusEvent) => [message].flat();

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
  const outcomes = messageOutcomesChannel(deps.channelPrefix);
  const warn = createThrottledWarn(log, 10_000);
  /** This process' subscribers, by conversation: the outcomes channel is handed out through it. */
  const local = new Map<string, Set<EventQueue<MessageStatusEvent>>>();
  /** The outcomes subscription, made with the first subscriber and kept (an idle channel costs nothing). */
  let listening: Promise<unknown> | undefined;
  const listen = () =>
    (listening ??= engine
      .subscribe(
        outcomes,
        (message: MessageStatusEvent[] | MessageStatusEvent) => {
          for (const event of eventsOf(message)) {
            for (const queue of local.get(event.conversationId) ?? []) queue.push(event);
          }
        },
        {},
      )
      .catch((error: unknown) => {
        // The next subscriber tries again.
        listening = undefined;
        throw error;
      }));

  return {
    async publish(events) {
      if (events.length === 0) return;
      try {
        await engine.publish(outcomes, events);
      } catch (error: unknown) {
        warn(error, 'could not publish a message status event; subscribers catch up on re-subscribing');
      }
    },
    async subscribe(conversationId) {
      const queue = new EventQueue<MessageStatusEvent>(MAX_UNREAD_EVENTS);
      // Handed outcomes from the start: one published while the subscriptions are being
      // confirmed is "published afterwards" too.
      const queues = local.get(conversationId) ?? local.set(conversationId, new Set()).get(conversationId)!;
      queues.add(queue);
      const forget = () => {
        queues.delete(queue);
        if (queues.size === 0 && local.get(conversationId) === queues) local.delete(conversationId);
      };
      try {
        await listen();
        const id = await engine.subscribe(
          channel(conversationId),
          (message: MessageStatusEvent[] | MessageStatusEvent) => {
            for (const event of eventsOf(message)) queue.push(event);
          },
          {},
        );
        queue.onClose(() => {
          forget();
          engine.unsubscribe(id);
        });
      } catch (error: unknown) {
        forget();
        throw error;
      }
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
