/** What one claim took from one shard: only the count matters here. */
interface Taken {
  readonly raws: readonly unknown[];
}

/**
 * The turns a worker's flush loops take at claiming. Claims go one loop at a time, and after a
 * batch that was not full the next claim, whichever loop makes it, waits `lingerMillis` from
 * that one so that sends gather. Loops that each lingered on their own would claim in each
 * other's pauses and split what gathered between them: more, smaller transactions for the same
 * sends. Only the claims take turns; the stores of claimed batches overlap. A full batch means
 * a backlog: the next claim goes at once. So does one after a claim that found nothing (the
 * loop then blocks until an intent arrives, and a lone send is stored without delay).
 */
export function createClaimTurns(deps: {
  lingerMillis: number;
  batchSize: number;
  pause: (millis: number) => Promise<void>;
  now?: () => number;
}) {
  const now = deps.now ?? (() => performance.now());
  let previous: Promise<unknown> = Promise.resolve();
  let notBefore = 0;
  return {
    /** Runs `claim` in this loop's turn, once the linger is over; what it took sets the next linger. */
    take<T extends readonly Taken[]>(claim: () => Promise<T>): Promise<T> {
      const turn = previous.then(async () => {
        const wait = notBefore - now();
        if (wait > 0) await deps.pause(wait);
        const taken = await claim();
        const claimed = taken.reduce((sum, { raws }) => sum + raws.length, 0);
        notBefore = claimed > 0 && claimed < deps.batchSize ? now() + deps.lingerMillis : 0;
        return taken;
      });
      // A claim that failed ends its turn like any other: the next loop's goes ahead.
      previous = turn.catch(() => undefined);
      return turn;
    },
  };
}
