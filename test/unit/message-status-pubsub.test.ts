import { PubSub } from 'graphql-subscriptions';
import { createLogger } from '../../src/core/logger';
import {
  createMessageStatusPubSub,
  messageOutcomesChannel,
  messageStatusChannel,
  type MessageStatusEvent,
} from '../../src/pubsub/message-status-pubsub';

const PREFIX = 'test:';
const silent = createLogger({ name: 'test', level: 'silent', pretty: false });

const event = (conversationId: string, messageId: string, status: MessageStatusEvent['status'] = 'PERSISTED') => ({
  messageId,
  conversationId,
  status,
  error: null,
});

/** graphql-subscriptions' in-process engine, counting what is published on which channel. */
function countingEngine() {
  const engine = new PubSub();
  const published: string[] = [];
  const publish = engine.publish.bind(engine);
  engine.publish = (channel: string, payload: unknown) => {
    published.push(channel);
    return publish(channel, payload);
  };
  return { engine, published };
}

/** The next `count` values of `iterator`. */
async function take<T>(iterator: AsyncIterableIterator<T>, count: number): Promise<T[]> {
  const values: T[] = [];
  while (values.length < count) values.push((await iterator.next()).value as T);
  return values;
}

describe('message status pub/sub', () => {
  it("announces a flush's outcomes, any number of conversations, in one message on the outcomes channel", async () => {
    const { engine, published } = countingEngine();
    const pubsub = createMessageStatusPubSub({ engine, channelPrefix: PREFIX, log: silent });
    await pubsub.publish([event('a', 'a1'), event('b', 'b1'), event('a', 'a2'), event('c', 'c1')]);
    expect(published).toEqual([messageOutcomesChannel(PREFIX)]);
    await pubsub.publish([]);
    expect(published).toHaveLength(1);
  });

  it("hands each subscriber its own conversation's outcomes, and its QUEUED events from the conversation's channel", async () => {
    const { engine } = countingEngine();
    const pubsub = createMessageStatusPubSub({ engine, channelPrefix: PREFIX, log: silent });
    const [a, alsoA, b] = await Promise.all([pubsub.subscribe('a'), pubsub.subscribe('a'), pubsub.subscribe('b')]);
    // What the push script publishes for a send, then a flush of three conversations.
    await engine.publish(messageStatusChannel(PREFIX, 'a'), [event('a', 'a1', 'QUEUED')]);
    await pubsub.publish([event('c', 'c1'), event('a', 'a1'), event('b', 'b1'), event('a', 'a2')]);
    await pubsub.publish([event('b', 'b2', 'FAILED')]);
    expect(await take(a, 3)).toEqual([event('a', 'a1', 'QUEUED'), event('a', 'a1'), event('a', 'a2')]);
    expect(await take(alsoA, 3)).toEqual([event('a', 'a1', 'QUEUED'), event('a', 'a1'), event('a', 'a2')]);
    expect(await take(b, 2)).toEqual([event('b', 'b1'), event('b', 'b2', 'FAILED')]);
  });

  it('reads a single event as well as a list (what an earlier release publishes)', async () => {
    const { engine } = countingEngine();
    const pubsub = createMessageStatusPubSub({ engine, channelPrefix: PREFIX, log: silent });
    const a = await pubsub.subscribe('a');
    await engine.publish(messageStatusChannel(PREFIX, 'a'), event('a', 'a1'));
    expect(await take(a, 1)).toEqual([event('a', 'a1')]);
  });

  it('stops handing events to a subscription once it is closed, and keeps the others going', async () => {
    const { engine } = countingEngine();
    const pubsub = createMessageStatusPubSub({ engine, channelPrefix: PREFIX, log: silent });
    const first = await pubsub.subscribe('a');
    const second = await pubsub.subscribe('a');
    await first.return!();
    await pubsub.publish([event('a', 'a1')]);
    await engine.publish(messageStatusChannel(PREFIX, 'a'), [event('a', 'a2', 'QUEUED')]);
    expect(await take(second, 2)).toEqual([event('a', 'a1'), event('a', 'a2', 'QUEUED')]);
    expect(await first.next()).toEqual({ value: undefined, done: true });
  });

  it('subscribes to the outcomes channel once, however many subscribers come and go', async () => {
    const { engine } = countingEngine();
    const subscribe = jest.spyOn(engine, 'subscribe');
    const pubsub = createMessageStatusPubSub({ engine, channelPrefix: PREFIX, log: silent });
    for (const id of ['a', 'b', 'a']) await (await pubsub.subscribe(id)).return!();
    const channels = subscribe.mock.calls.map(([channel]) => channel);
    expect(channels.filter((channel) => channel === messageOutcomesChannel(PREFIX))).toHaveLength(1);
    expect(channels.filter((channel) => channel !== messageOutcomesChannel(PREFIX))).toEqual([
      messageStatusChannel(PREFIX, 'a'),
      messageStatusChannel(PREFIX, 'b'),
      messageStatusChannel(PREFIX, 'a'),
    ]);
  });
});
