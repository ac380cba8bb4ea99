import { OverloadedError } from '../core/errors';

export interface FairQueueOptions {
  /** Jobs running at once, across all keys. */
  concurrency: number;
  /** Jobs waiting for a place at most, across all keys; one more is refused. */
  maxWaiting: number;
  /** Jobs one key may hold at once, running and waiting together; one more is refused. */
  maxPerKey: number;
  /** Jobs one key may run at once, so that others find a free place; default: `concurrency`. */
  maxRunningPerKey?: number;
  /** `Retry-After` of a refusal, in seconds; default 1. */
  retryAfterSeconds?: number;
  /** What the jobs are, for the refusal's message (e.g. "password checks"); default "requests". */
  label?: string;
}

/** Why a job was refused: its key holds its whole share, or the queue is full. */
type RefusalReason = 'key_share' | 'queue_full';

interface FairQueueStats {
  running: number;
  waiting: number;
  /** Keys holding a running or waiting job. */
  keys: number;
  /** Since the queue was made. */
  started: number;
  refused: Record<RefusalReason, number>;
}

export interface FairQueue {
  /**
   * Runs `job` once a place is free and it is `key`'s turn, and settles as it does.
   * @throws OverloadedError at once, without running `job`, when `key` already holds
   *   `maxPerKey` jobs or `maxWaiting` jobs are waiting.
   */
  run<T>(key: string, job: () => Promise<T>): Promise<T>;
  stats(): FairQueueStats;
  /** What `key` holds now (0 and 0 for a key holding nothing). */
  held(key: string): { running: number; waiting: number };
  /** Told of every job as it starts, in order; returns a function that stops telling. */
  onStart(listener: (key: string) => void): () => void;
  /** Told of every refusal; returns a function that stops telling. */
  onRefused(listener: (key: string, reason: RefusalReason) => void): () => void;
}

interface KeyState {
  running: number;
  waiting: (() => void)[];
  /** The sequence number of this key's last start; -1 while none in this busy spell. */
  lastStart: number;
  /** When this key joined the line (or was last served with more waiting): breaks ties between keys not yet served. */
  firstWaitingSeq: number;
}

/**
 * A semaphore of `concurrency` places with a bounded waiting room, shared fairly between
 * keys (client addresses): when a place frees up it goes to the waiting key served least
 * recently — round-robin — not to the oldest job, so a key that queued a hundred jobs waits
 * its own turn behind each newcomer instead of in front of them. A key's share of the room is
 * capped too, and beyond it (or when the room is full) a job is refused at once: waiting
 * longer would only let one client's burst grow into everyone's delay.
 *
 * A key's state is dropped as soon as it holds nothing, so the map never outgrows
 * `concurrency + maxWaiting` entries.
 */
export function createFairQueue(options: FairQueueOptions): FairQueue {
  const concurrency = Math.max(1, options.concurrency);
  const maxRunningPerKey = Math.max(1, Math.min(options.maxRunningPerKey ?? concurrency, concurrency));
  const retryAfter = options.retryAfterSeconds ?? 1;
  const label = options.label ?? 'requests';
  const keys = new Map<string, KeyState>();
  const startListeners = new Set<(key: string) => void>();
  const refusedListeners = new Set<(key: string, reason: RefusalReason) => void>();
  let running = 0;
  let waiting = 0;
  let seq = 0;
  let started = 0;
  const refused: Record<RefusalReason, number> = { key_share: 0, queue_full: 0 };

  /** Listeners hear of it after the queue's state is settled: one that throws cannot leave a job stuck. */
  const tell = (notify: () => void) => queueMicrotask(notify);

  function refuse(key: string, reason: RefusalReason): never {
    refused[reason]++;
    for (const listener of refusedListeners) tell(() => listener(key, reason));
    throw new OverloadedError(
      retryAfter,
      reason === 'key_share'
        ? `Too many ${label} from your address at once: try again in ${retryAfter} s.`
        : `Too many ${label} at once: try again in ${retryAfter} s.`,
    );
  }

  function start(key: string, state: KeyState): void {
    running++;
    state.running++;
    state.lastStart = ++seq;
    started++;
    for (const listener of startListeners) tell(() => listener(key));
  }

  /** The waiting key whose turn it is: served least recently, then waiting longest. */
  function nextKey(): [string, KeyState] | undefined {
    let best: [string, KeyState] | undefined;
    for (const entry of keys) {
      const state = entry[1];
      if (state.waiting.length === 0 || state.running >= maxRunningPerKey) continue;
      const [, current] = best ?? [];
      if (
        !current ||
        state.lastStart < current.lastStart ||
        (state.lastStart === current.lastStart && state.firstWaitingSeq < current.firstWaitingSeq)
      ) {
        best = entry;
      }
    }
    return best;
  }

  function dispatch(): void {
    while (running < concurrency) {
      const next = nextKey();
      if (!next) return;
      const [key, state] = next;
      const resume = state.waiting.shift()!;
      waiting--;
      state.firstWaitingSeq = state.waiting.length > 0 ? ++seq : Infinity;
      start(key, state);
      resume();
    }
  }

  function finish(key: string, state: KeyState): void {
    running--;
    state.running--;
    if (state.running === 0 && state.waiting.length === 0) keys.delete(key);
    dispatch();
  }

  return {
    async run<T>(key: string, job: () => Promise<T>): Promise<T> {
      const found = keys.get(key);
      if (found && found.running + found.waiting.length >= options.maxPerKey) refuse(key, 'key_share');
      const state = found ?? { running: 0, waiting: [], lastStart: -1, firstWaitingSeq: Infinity };
      keys.set(key, state);
      // Every job joins the waiting room and `dispatch` picks whose turn it is: a free place
      // goes straight to this job only if nobody else's turn comes first.
      let resume!: () => void;
      const admitted = new Promise<void>((resolve) => (resume = resolve));
      if (state.waiting.length === 0) state.firstWaitingSeq = ++seq;
      state.waiting.push(resume);
      waiting++;
      dispatch();
      if (waiting > options.maxWaiting && state.waiting.at(-1) === resume) {
        state.waiting.pop();
        waiting--;
        if (state.waiting.length === 0) state.firstWaitingSeq = Infinity;
        if (state.running === 0 && state.waiting.length === 0) keys.delete(key);
        refuse(key, 'queue_full');
      }
      await admitted;
      try {
        return await job();
      } finally {
        finish(key, state);
      }
    },

    stats: () => ({ running, waiting, keys: keys.size, started, refused: { ...refused } }),

    held(key) {
      const state = keys.get(key);
      return { running: state?.running ?? 0, waiting: state?.waiting.length ?? 0 };
    },

    onStart(listener) {
      startListeners.add(listener);
      return () => startListeners.delete(listener);
    },

    onRefused(listener) {
      refusedListeners.add(listener);
      return () => refusedListeners.delete(listener);
    },
  };
}
