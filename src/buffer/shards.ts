import { createHash, randomInt } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { newId } from '../core/ids';
import { MAX_BUFFER_SHARDS } from '../config/config';

/** Redis Cluster's hash slots. */
const SLOTS = 16_384;
/** The id's last four hex digits name its shard: random bits in a UUIDv7, so any value is still a valid id. */
const SHARD_DIGITS = 4;
const SHARD_SPACE = 16 ** SHARD_DIGITS;

export type BufferShards = ReturnType<typeof createBufferShards>;

/**
 * Where each conversation's intents live when the write buffer is split (`BUFFER_SHARDS`).
 * A conversation belongs to one shard, named by its id; its messages' ids name the same
 * shard, so any look-up by id (a conversation's pending messages, message statuses) asks one
 * shard, and nothing keeps a second index that could disagree with the first.
 *
 * A new conversation's shard is drawn from its sender's bot, the sender and the send's
 * clientMessageId: a retried first message mints another conversation id, but in the same
 * shard, where the first attempt's idempotency key is. Without a clientMessageId there is no
 * retry to find, and the shard is random, so one busy sender spreads over every shard.
 *
 * Each shard's hash tag is chosen to fall in its own equal part of the slot space: a cluster
 * whose masters split the slots evenly carries an even share of the shards each.
 */
export function createBufferShards(count: number) {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BUFFER_SHARDS) {
    throw new RangeError(`A write buffer has 1 to ${MAX_BUFFER_SHARDS} shards, not ${count}.`);
  }
  const tags = count === 1 ? ['buffer'] : Array.from({ length: count }, (_, shard) => tagInSlots(shard, count));

  const ofId = (id: string): number => {
    if (count === 1) return 0;
    const value = Number.parseInt(id.slice(-SHARD_DIGITS), 16);
    return Number.isNaN(value) ? 0 : value % count;
  };

  const newIdIn = (shard: number): string => {
    const id = newId();
    if (count === 1) return id;
    const step = randomInt(Math.floor((SHARD_SPACE - 1 - shard) / count) + 1);
    return id.slice(0, -SHARD_DIGITS) + (shard + step * count).toString(16).padStart(SHARD_DIGITS, '0');
  };

  return {
    count,
    /** Each shard's hash tag; with one shard, `buffer`, the layout every earlier release used. */
    tags: tags as readonly string[],
    /** The shard of a conversation, or of a message (a message's id names its conversation's shard). */
    ofId,
    /** An id for a new conversation. */
    newConversationId(botId: string, senderId: string, clientMessageId: string | undefined): string {
      if (count === 1) return newId();
      if (clientMessageId === undefined) return newIdIn(randomInt(count));
      const digest = createHash('sha256').update(`${botId}\n${senderId}\n${clientMessageId}`).digest();
      return newIdIn(digest.readUInt32BE(0) % count);
    },
    /** An id for a new message of a conversation: in the conversation's shard. */
    newMessageId: (conversationId: string): string => newIdIn(ofId(conversationId)),
  };
}

/** A hash tag whose slot lies in shard `shard`'s part of the slot space. */
function tagInSlots(shard: number, count: number): string {
  const from = Math.floor((shard * SLOTS) / count);
  const to = Math.floor(((shard + 1) * SLOTS) / count);
  for (let attempt = 0; ; attempt++) {
    const tag = `buffer:${shard}:${attempt}`;
    const slot = calculateSlot(tag);
    if (slot >= from && slot < to) return tag;
  }
}
