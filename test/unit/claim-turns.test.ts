import { createClaimTurns } from '../../worker/claim-turns';

/** A claim's result: `count` intents from one shard. */
const batch = (count: number) => [{ raws: Array.from({ length: count }, (_, i) => `intent ${i}`) }];

/** Claim turns on a clock the test moves; every pause is recorded and moves the clock by as much. */
function turnsOnClock(options: { lingerMillis?: number; batchSize?: number } = {}) {
  let clock = 1_000;
  const pauses: number[] = [];
  const turns = createClaimTurns({
    lingerMillis: options.lingerMillis ?? 100,
    batchSize: options.batchSize ?? 10,
    now: () => clock,
    pause: async (millis) => {
      pauses.push(millis);
      clock += millis;
    },
  });
  return { turns, pauses, advance: (millis: number) => (clock += millis) };
}

/** A claim the test finishes when it likes, recording when it started. */
function heldClaim(log: string[], name: string, count: number) {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  return {
    claim: async () => {
      log.push(`${name} starts`);
      await finished;
      log.push(`${name} ends`);
      return batch(count);
    },
    finish,
  };
}

describe("claim turns (a worker's flush loops)", () => {
  it('runs one claim at a time, in the order the loops asked', async () => {
    const { turns } = turnsOnClock();
    const log: string[] = [];
    const first = heldClaim(log, 'first', 10);
    const second = heldClaim(log, 'second', 10);
    const a = turns.take(first.claim);
    const b = turns.take(second.claim);
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['first starts']);
    first.finish();
    second.finish();
    await Promise.all([a, b]);
    expect(log).toEqual(['first starts', 'first ends', 'second starts', 'second ends']);
  });

  it('makes the next claim, by any loop, wait the linger after a batch that was not full', async () => {
    const { turns, pauses, advance } = turnsOnClock({ lingerMillis: 100, batchSize: 10 });
    await turns.take(async () => batch(3));
    // Part of the linger has passed (the loop stored its batch meanwhile): only the rest is waited.
    advance(30);
    await turns.take(async () => batch(4));
    expect(pauses).toEqual([70]);
    // A linger that has passed entirely is not waited.
    advance(150);
    await turns.take(async () => batch(10));
    expect(pauses).toEqual([70]);
  });

  it('lets the next claim go at once after a full batch or one that found nothing', async () => {
    const { turns, pauses } = turnsOnClock({ lingerMillis: 100, batchSize: 10 });
    await turns.take(async () => [...batch(6), ...batch(4)]);
    await turns.take(async () => []);
    await turns.take(async () => batch(1));
    expect(pauses).toEqual([]);
    await turns.take(async () => batch(1));
    expect(pauses).toEqual([100]);
  });

  it('ends the turn of a claim that failed, and the next loop claims', async () => {
    const { turns } = turnsOnClock();
    const failed = turns.take(async () => {
      throw new Error('the shard did not answer');
    });
    const next = turns.take(async () => batch(10));
    await expect(failed).rejects.toThrow('the shard did not answer');
    await expect(next).resolves.toHaveLength(1);
  });

  it('never waits with no linger set', async () => {
    const { turns, pauses } = turnsOnClock({ lingerMillis: 0 });
    await turns.take(async () => batch(1));
    await turns.take(async () => batch(1));
    expect(pauses).toEqual([]);
  });
});
