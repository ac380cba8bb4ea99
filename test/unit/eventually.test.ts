import { eventually } from '../helpers/test-app';

/** Answers each call with the next of `values` (a function throws), then keeps answering the last one. */
function sequence(...values: unknown[]) {
  let call = 0;
  return jest.fn(async () => {
    const value = values[Math.min(call++, values.length - 1)];
    if (typeof value === 'function') throw (value as () => Error)();
    return value;
  });
}

/**
 * Settles `pending` (a call of `eventually` made under fake timers) by moving the fake clock on
 * past its deadline: it polls at 0, 50, 100 ms and so on whatever the machine is doing, so what it
 * saw last is the same on every run.
 */
async function onFakeClock<T>(pending: Promise<T>): Promise<T> {
  const settled = pending.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await jest.advanceTimersByTimeAsync(1_000);
  const outcome = await settled;
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

describe('eventually', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('keeps polling past undefined and false, and returns the first other value', async () => {
    const check = sequence(undefined, false, 0, 'later');
    await expect(onFakeClock(eventually(check, 2_000))).resolves.toBe(0);
    expect(check).toHaveBeenCalledTimes(3);
    await expect(onFakeClock(eventually(sequence(undefined, null), 2_000))).resolves.toBeNull();
  });

  it('never takes false for success, and says so when it gives up', async () => {
    await expect(onFakeClock(eventually(sequence(false), 200))).rejects.toThrow(
      /condition not met within 200 ms: the last check returned false$/,
    );
  });

  it('names the last value it saw', async () => {
    await expect(onFakeClock(eventually(sequence(false, undefined), 200))).rejects.toThrow(
      /condition not met within 200 ms: the last check returned undefined$/,
    );
  });

  it('retries a check that throws, and reports the last error if it never passes', async () => {
    await expect(
      onFakeClock(
        eventually(
          sequence(() => new Error('not listening yet'), 'up'),
          2_000,
        ),
      ),
    ).resolves.toBe('up');
    const failure = await onFakeClock(
      eventually(
        sequence(
          () => new Error('first error'),
          () => new Error('database is down'),
        ),
        200,
      ),
    ).then(
      () => {
        throw new Error('eventually resolved');
      },
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure.message).toMatch(/condition not met within 200 ms: the last check threw Error: database is down/);
    expect((failure.cause as Error).message).toBe('database is down');
  });
});
