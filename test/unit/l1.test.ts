import { createL1 } from '../../src/cache/l1';

const json = (value: unknown) => JSON.stringify(value);

describe('the L1 (in-process LRU in front of Redis)', () => {
  it('keeps within its byte bound, dropping the least recently used first', () => {
    const l1 = createL1({ maxBytes: 10_000, ttlMillis: 60_000 });
    const value = { blob: 'x'.repeat(1000) };
    for (let i = 0; i < 50; i++) l1.set(`bot:{${i}}`, value, json(value));
    const { entries, bytes } = l1.size();
    expect(bytes).toBeLessThanOrEqual(10_000);
    // About 1.1 KB each.
    expect(entries).toBeGreaterThan(5);
    expect(entries).toBeLessThan(10);
    expect(l1.get('bot:{0}')).toBeUndefined();
    expect(l1.get('bot:{49}')).toEqual({ value });
  });

  it('does not keep an entry larger than the whole bound', () => {
    const l1 = createL1({ maxBytes: 10_000, ttlMillis: 60_000 });
    const small = { name: 'small' };
    l1.set('bot:{small}', small, json(small));
    const huge = { blob: 'x'.repeat(20_000) };
    l1.set('bot:{huge}', huge, json(huge));
    expect(l1.get('bot:{huge}')).toBeUndefined();
    expect(l1.get('bot:{small}')).toEqual({ value: small });
  });

  it('counts a long key in its bytes too', () => {
    const l1 = createL1({ maxBytes: 10_000, ttlMillis: 60_000 });
    l1.set(`bot:{${'k'.repeat(20_000)}}`, { a: 1 }, '{"a":1}');
    expect(l1.size()).toEqual({ entries: 0, bytes: 0 });
  });

  it('holds as many small entries as its bytes allow: no bound on their number', () => {
    const l1 = createL1({ maxBytes: 32 * 1024 * 1024, ttlMillis: 60_000 });
    const ids = Array.from({ length: 50_000 }, (_, i) => `bot:{${i}}`);
    for (const id of ids) l1.set(id, { id, name: 'a bot' }, json({ id, name: 'a bot' }));
    expect(l1.size().entries).toBe(50_000);
    expect(ids.every((id) => l1.get(id) !== undefined)).toBe(true);
  });

  it('keeps "not found" apart: random ids never push out the entities others read', () => {
    const l1 = createL1({ maxBytes: 20_000, ttlMillis: 60_000 });
    const hot = { name: 'hot' };
    l1.set('bot:{hot}', hot, json(hot));
    for (let i = 0; i < 10_000; i++) l1.set(`bot:{random-${i}}`, null, 'null');
    expect(l1.get('bot:{hot}')).toEqual({ value: hot });
    // A tenth of the bytes for "not found" (about 120 bytes each): the most recent ones.
    const notFound = l1.size().entries - 1;
    expect(notFound).toBeGreaterThan(10);
    expect(notFound).toBeLessThanOrEqual(2_000 / 100);
    expect(l1.get('bot:{random-9999}')).toEqual({ value: null });
    expect(l1.get('bot:{random-0}')).toBeUndefined();
  });

  it('replaces "not found" with a value and back, and forgets both on delete and clear', () => {
    const l1 = createL1({ maxBytes: 1_000_000, ttlMillis: 60_000 });
    l1.set('bot:{a}', null, 'null');
    expect(l1.get('bot:{a}')).toEqual({ value: null });
    l1.set('bot:{a}', { v: 1 }, '{"v":1}');
    expect(l1.get('bot:{a}')).toEqual({ value: { v: 1 } });
    l1.set('bot:{a}', null, 'null');
    expect(l1.get('bot:{a}')).toEqual({ value: null });
    l1.delete('bot:{a}');
    expect(l1.get('bot:{a}')).toBeUndefined();
    l1.set('bot:{b}', { v: 2 }, '{"v":2}');
    l1.set('bot:{c}', null, 'null');
    l1.clear();
    expect(l1.size()).toEqual({ entries: 0, bytes: 0 });
  });

  it('is off with 0 bytes', () => {
    expect(createL1({ maxBytes: 0, ttlMillis: 1000 }).enabled).toBe(false);
    expect(createL1({ maxBytes: 1000, ttlMillis: 1000 }).enabled).toBe(true);
  });
});
