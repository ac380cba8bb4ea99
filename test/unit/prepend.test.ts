import { prepend } from '../../src/pubsub/message-status-pubsub';

function liveSource<T>() {
  const pending: ((result: IteratorResult<T>) => void)[] = [];
  let returned = false;
  const iterator: AsyncIterableIterator<T> = {
    next: () => new Promise((resolve) => pending.push(resolve)),
    return: async () => {
      returned = true;
      pending.splice(0).forEach((resolve) => resolve({ value: undefined, done: true }));
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return { iterator, push: (value: T) => pending.shift()?.({ value, done: false }), wasReturned: () => returned };
}

describe('prepend', () => {
  it('yields the snapshot first, then live values', async () => {
    const live = liveSource<number>();
    const iterator = prepend([1, 2], live.iterator);
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    expect(await iterator.next()).toEqual({ value: 2, done: false });
    const third = iterator.next();
    live.push(3);
    expect(await third).toEqual({ value: 3, done: false });
  });

  it('closes the live source even while a read is waiting on it', async () => {
    const live = liveSource<number>();
    const iterator = prepend([], live.iterator);
    const waiting = iterator.next();
    await iterator.return!();
    expect(live.wasReturned()).toBe(true);
    expect(await waiting).toEqual({ value: undefined, done: true });
  });
});
