import { createMemoryWindow, decide } from '../../src/rate-limits/sliding-window';

const WINDOW = 60_000;
const LIMIT = 100;

describe('sliding window arithmetic', () => {
  it('admits up to the limit, then says when the oldest admission leaves', () => {
    const times = Array.from({ length: 100 }, (_, i) => 1_000 + i * 10);
    expect(decide(times.slice(0, 99), 5_000, LIMIT, WINDOW, 1)).toMatchObject({ admitted: true, count: 100 });
    const refused = decide(times, 5_000, LIMIT, WINDOW, 1);
    expect(refused).toMatchObject({ admitted: false, count: 100 });
    // The first admission (at 1,000) leaves at 61,000: 56 s from 5,000.
    expect(refused.retryAfterMillis).toBe(56_000);
    // At that moment exactly, it has left and the request fits.
    expect(decide(times, 61_000, LIMIT, WINDOW, 1)).toMatchObject({ admitted: true, count: 100 });
    expect(decide(times, 60_999, LIMIT, WINDOW, 1).admitted).toBe(false);
  });

  it('waits for as many admissions to leave as the cost needs', () => {
    const times = [0, 100, 200, 300];
    // Limit 4, cost 3: three must leave, the third at 200 + window.
    expect(decide(times, 1_000, 4, WINDOW, 3).retryAfterMillis).toBe(200 + WINDOW - 1_000);
  });
});

describe('in-memory sliding window (injected clock)', () => {
  let now: number;
  const window = () => createMemoryWindow({ now: () => now });

  it('never admits more than the limit in any window, across a window edge', async () => {
    now = 0;
    const counter = window();
    const admittedAt: number[] = [];
    const burst = async (count: number) => {
      for (let i = 0; i < count; i++) {
        if ((await counter.hit('k', LIMIT, WINDOW, 1, `m${now}-${i}`)).admitted) admittedAt.push(now);
      }
    };
    // 50 just before a fixed window's edge would fall, 100 just after: a fixed window of one
    // minute starting at 0 would admit all 150 within two seconds.
    now = 59_000;
    await burst(50);
    now = 61_000;
    await burst(100);
    expect(admittedAt.filter((at) => at === 61_000)).toHaveLength(50);
    // Once the first 50 have left (59,000 + 60,000), 50 more fit, and no more.
    now = 119_000;
    await burst(100);
    expect(admittedAt.filter((at) => at === 119_000)).toHaveLength(50);
    for (const start of admittedAt) {
      expect(admittedAt.filter((at) => at >= start && at < start + WINDOW).length).toBeLessThanOrEqual(LIMIT);
    }
  });

  it('keeps counters apart, and takes back an undone admission', async () => {
    now = 0;
    const counter = window();
    expect((await counter.hit('a', 1, WINDOW, 1, 'first')).admitted).toBe(true);
    expect((await counter.hit('a', 1, WINDOW, 1, 'second')).admitted).toBe(false);
    expect((await counter.hit('b', 1, WINDOW, 1, 'other')).admitted).toBe(true);
    await counter.undo('a', 'first', 1);
    expect((await counter.hit('a', 1, WINDOW, 1, 'third')).admitted).toBe(true);
  });

  it('keeps nothing for a refused request, and nothing once a counter empties', async () => {
    now = 0;
    const counter = createMemoryWindow({ now: () => now });
    // Limit 0: every request is refused; a million distinct keys would once have been kept.
    for (let i = 0; i < 1000; i++) await counter.hit(`refused-${i}`, 0, WINDOW, 1, `m${i}`);
    expect(counter.size!()).toEqual({ keys: 0, bytes: 0 });
    await counter.hit('k', 1, WINDOW, 1, 'a');
    expect(counter.size!().keys).toBe(1);
    await counter.undo('k', 'a', 1);
    expect(counter.size!().keys).toBe(0);
    await counter.hit('k', 1, WINDOW, 1, 'b');
    now = WINDOW;
    await counter.hit('k', 0, WINDOW, 1, 'c');
    expect(counter.size!().keys).toBe(0);
  });

  it('stays within its byte budget however long or many the keys are', async () => {
    now = 0;
    const maxBytes = 64 * 1024;
    const counter = createMemoryWindow({ now: () => now, maxBytes });
    for (let i = 0; i < 200; i++) await counter.hit(`${i}:${'x'.repeat(4096)}`, 10, WINDOW, 1, `m${i}`);
    expect(counter.size!().bytes).toBeLessThanOrEqual(maxBytes);
    expect(counter.size!().keys).toBeGreaterThan(0);
    expect(counter.size!().keys).toBeLessThan(200);
  });

  it('reports Retry-After that a retry at that time honours', async () => {
    now = 10_000;
    const counter = window();
    await counter.hit('k', 2, WINDOW, 1, 'a');
    now = 20_000;
    await counter.hit('k', 2, WINDOW, 1, 'b');
    now = 30_000;
    const refused = await counter.hit('k', 2, WINDOW, 1, 'c');
    expect(refused).toMatchObject({ admitted: false, retryAfterMillis: 40_000, resetMillis: 40_000 });
    now += refused.retryAfterMillis - 1;
    expect((await counter.hit('k', 2, WINDOW, 1, 'd')).admitted).toBe(false);
    now += 1;
    expect((await counter.hit('k', 2, WINDOW, 1, 'e')).admitted).toBe(true);
  });
});
