import { intentFromExchange, type Intent } from '../../src/buffer/intent';
import { createBufferShards, type BufferShards } from '../../src/buffer/shards';
import type { WriteBuffer } from '../../src/buffer/write-buffer';
import { createCacheKeys } from '../../src/platform/redis/keys';
import { testBufferShards } from './redis';

/** The write buffer's keys of an app's configuration: every shard's, and the shard of one id. */
export function bufferKeysOf(config: { redis: { keyPrefix: string }; buffer: { shards: number } }) {
  const shards = createBufferShards(config.buffer.shards);
  const keys = createCacheKeys(config.redis.keyPrefix);
  const all = shards.tags.map((tag) => keys.bufferShard(tag));
  return {
    all,
    /** The shard keys of a conversation or message id. */
    of: (id: string) => all[shards.ofId(id)]!,
  };
}

/** Claims up to `max` intents as one worker would, shard after shard; returns how many it holds. */
export async function claimAcrossShards(
  buffer: WriteBuffer,
  claimId: string,
  max: number,
  leaseMillis: number,
): Promise<number> {
  let held = 0;
  for (let shard = 0; shard < buffer.shardCount && held < max; shard++) {
    held += (await buffer.claim(shard, claimId, max - held, leaseMillis)).length;
  }
  return held;
}

/** The shards of this run (TEST_BUFFER_SHARDS): ids minted as the api mints them. */
const testShards = createBufferShards(Number(testBufferShards()));

/** A new conversation's id, in a shard as the api would pick it. */
export const testConversationId = (shards: BufferShards = testShards): string =>
  shards.newConversationId('', '', undefined);

/**
 * An intent as the api would push it for a sender's question and the bot's answer: its
 * message ids in the shard of its conversation (a new one unless given).
 */
export function testIntent(fields: {
  botId: string;
  senderId: string;
  question: string;
  answer: string;
  conversationId?: string;
  /** When it was pushed (epoch ms); default now. */
  enqueuedAt?: number;
  /** The app's shards when it sets BUFFER_SHARDS itself; default this run's. */
  shards?: BufferShards;
}): Intent {
  const createdAt = new Date();
  const shards = fields.shards ?? testShards;
  const conversationId = fields.conversationId ?? testConversationId(shards);
  return intentFromExchange(
    {
      conversation: { id: conversationId, botId: fields.botId, ownerUserId: fields.senderId, visitorId: null },
      message: {
        id: shards.newMessageId(conversationId),
        role: 'USER',
        content: fields.question,
        createdAt,
        senderId: fields.senderId,
      },
      reply: {
        id: shards.newMessageId(conversationId),
        role: 'ASSISTANT',
        content: fields.answer,
        createdAt,
        replyTo: undefined,
      },
    },
    fields.enqueuedAt ?? Date.now(),
  );
}
