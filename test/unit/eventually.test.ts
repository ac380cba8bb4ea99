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

describe('eventually', () => {
  it('keeps polling past undefined and false, and returns the first other value', async () => {
    const check = sequence(undefined, false, 0, 'later');
    await expect(eventually(check, 2_000)).resolves.toBe(0);
    expect(check).toHaveBeenCalledTimes(3);
    await expect(eventually(sequence(undefined, null), 2_000)).resolves.toBeNull();
  });

  it('never takes false for success, and says so when it gives up', async () => {
    await expect(eventually(sequence(false), 200)).rejects.toThrow(
      /condition not met within 200 ms: the last check returned false$/,
    );
  });

  it('names the last value it saw', async () => {
    await expect(eventually(sequence(false, undefined), 200)).rejects.toThrow(
      /condition not met within 200 ms: the last check returned undefined$/,
    );
  });

  it('retries a check that throws, and reports the last error if it never passes', async () => {
    await expect(
      eventually(
        sequence(() => new Error('not listening yet'), 'up'),
        2_000,
      ),
    ).resolves.toBe('up');
    const failure = await eventually(
      sequence(
        () => new Error('first error'),
        () => new Error('database is down'),
      ),
      200,
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
