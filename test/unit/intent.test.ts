import {
  INTENT_VERSION,
  InvalidIntentError,
  decodeIntent,
  encodeIntent,
  exchangeFromIntent,
  intentFromExchange,
} from '../../src/buffer/intent';
import { newId } from '../../src/core/ids';

const exchange = () => {
  const createdAt = new Date('2026-11-26T10:00:00.000Z');
  return {
    conversation: { id: newId(), botId: newId(), ownerUserId: null, visitorId: newId() },
    message: {
      id: newId(),
      role: 'USER' as const,
      content: 'Hello ✓',
      createdAt,
      senderId: newId(),
      clientMessageId: 'c-1',
    },
    reply: { id: newId(), role: 'ASSISTANT' as const, content: 'Hi', createdAt: new Date(createdAt.getTime() + 5) },
  };
};

describe('write-buffer intents', () => {
  it('survive the trip through JSON whole, dates included', () => {
    const original = exchange();
    const intent = intentFromExchange(original, 1234);
    const decoded = decodeIntent(encodeIntent(intent));
    expect(decoded).toEqual(intent);
    expect(decoded.message.createdAt).toBeInstanceOf(Date);
    expect(exchangeFromIntent(decoded)).toEqual({
      ...original,
      reply: { ...original.reply, replyTo: original.message.id },
    });
  });

  it('refuse what the worker cannot trust: not JSON, another version, a missing or malformed field', () => {
    const json = JSON.parse(encodeIntent(intentFromExchange(exchange(), 1))) as Record<string, any>;
    const variants: unknown[] = [
      { ...json, v: INTENT_VERSION + 1 },
      { ...json, message: { ...json.message, id: 'not-a-uuid' } },
      { ...json, reply: { ...json.reply, createdAt: 'yesterday' } },
      { ...json, conversation: undefined },
      { ...json, attempts: -1 },
    ];
    expect(() => decodeIntent('{"v":1,')).toThrow(InvalidIntentError);
    for (const variant of variants) expect(() => decodeIntent(JSON.stringify(variant))).toThrow(InvalidIntentError);
  });

  it('need a sender: a buffered message without one could never be matched to its retry', () => {
    const { message, ...rest } = exchange();
    expect(() => intentFromExchange({ ...rest, message: { ...message, senderId: undefined } }, 1)).toThrow(/sender/);
  });
});
