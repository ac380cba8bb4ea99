/**
 * Holds callers of `wait()` until `parties` of them are waiting, then lets them all go at
 * once: forces calls that a test means to overlap to really overlap. Rejects every waiter
 * if they have not all arrived within `timeoutMillis`, so a test fails instead of hanging.
 */
export function createBarrier(parties: number, timeoutMillis = 5_000) {
  let arrived = 0;
  let open!: () => void;
  let fail!: (error: Error) => void;
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  // Without a waiter yet, a rejection would be reported as unhandled.
  opened.catch(() => {});
  const timer = setTimeout(
    () => fail(new Error(`only ${arrived} of ${parties} calls reached the barrier in ${timeoutMillis} ms`)),
    timeoutMillis,
  );
  return {
    /** How many calls have reached the barrier so far. */
    get arrived(): number {
      return arrived;
    },
    async wait(): Promise<void> {
      arrived += 1;
      if (arrived === parties) {
        clearTimeout(timer);
        open();
      }
      await opened;
    },
  };
}
