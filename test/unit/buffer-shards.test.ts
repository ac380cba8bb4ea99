import calculateSlot from 'cluster-key-slot';
import { createBufferShards } from '../../src/buffer/shards';
import { isUuid, newId } from '../../src/core/ids';

describe('the write buffer shards', () => {
  it('keeps the one-shard layout of earlier releases: tag {buffer}, plain ids', () => {
    const shards = createBufferShards(1);
    expect(shards.tags).toEqual(['buffer']);
    expect(shards.ofId(newId())).toBe(0);
    expect(shards.ofId(shards.newConversationId(newId(), newId(), 'retry-me'))).toBe(0);
  });

  it('mints valid, time-ordered ids in the shard asked for, for every shard', () => {
    for (const count of [2, 3, 16, 256]) {
      const shards = createBufferShards(count);
      for (let shard = 0; shard < count; shard++) {
        // A conversation stored before the buffer was split: its id names a shard by chance.
        const conversationId = newId().slice(0, -4) + shard.toString(16).padStart(4, '0');
        expect(shards.ofId(conversationId)).toBe(shard);
        const messageId = shards.newMessageId(conversationId);
        expect(isUuid(messageId)).toBe(true);
        expect(messageId.slice(14, 15)).toBe('7');
        expect(shards.ofId(messageId)).toBe(shard);
        expect(shards.ofId(shards.newConversationId(newId(), newId(), `key-${shard}`))).toBeLessThan(count);
      }
    }
    // UUIDv7 sorts by creation: the shard digits at the end leave the time at the front.
    const shards = createBufferShards(16);
    const earlier = shards.newMessageId(newId());
    expect(earlier.slice(0, 8) <= shards.newMessageId(newId()).slice(0, 8)).toBe(true);
  });

  it('puts every attempt of a first message with one clientMessageId in one shard, and spreads the others', () => {
    const shards = createBufferShards(16);
    const [bot, sender] = [newId(), newId()];
    const attempts = Array.from({ length: 50 }, () => shards.ofId(shards.newConversationId(bot, sender, 'c-1')));
    expect(new Set(attempts).size).toBe(1);
    // Without a key, or with different keys, one sender's conversations reach every shard.
    const unkeyed = new Set(
      Array.from({ length: 2000 }, () => shards.ofId(shards.newConversationId(bot, sender, undefined))),
    );
    expect(unkeyed.size).toBe(16);
    const keyed = new Set(
      Array.from({ length: 2000 }, (_, i) => shards.ofId(shards.newConversationId(bot, sender, `c-${i}`))),
    );
    expect(keyed.size).toBe(16);
  });

  it('gives each shard a hash tag in its own equal part of the slot space', () => {
    for (const count of [3, 16, 100]) {
      const { tags } = createBufferShards(count);
      expect(new Set(tags).size).toBe(count);
      tags.forEach((tag, shard) => {
        const slot = calculateSlot(`parley:buffer:{${tag}}:pending`);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((shard * 16_384) / count));
        expect(slot).toBeLessThan(Math.floor(((shard + 1) * 16_384) / count));
      });
    }
    // Three masters splitting the slots evenly hold 6, 5 and 5 of 16 shards: none more than 6.
    const perMaster = [0, 0, 0];
    for (const tag of createBufferShards(16).tags) perMaster[Math.floor((calculateSlot(tag) * 3) / 16_384)]!++;
    expect(perMaster.sort()).toEqual([5, 5, 6]);
  });

  it('refuses a count out of range', () => {
    expect(() => createBufferShards(0)).toThrow(/1 to 256 shards, not 0/);
    expect(() => createBufferShards(257)).toThrow(RangeError);
    expect(() => createBufferShards(1.5)).toThrow(RangeError);
  });
});
