import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createThrottledWarn } from '../core/throttled-warn';
import type { Logger } from '../core/logger';
import { createFairQueue, type FairQueue } from './fair-queue';
import { hashPassword, verifyPassword, type Scrypt } from './passwords';
import { createScryptPool } from './scrypt-pool';

export interface PasswordHashingSettings {
  /** Hashes at once; 0: one fewer than the cores (at least 1), so the event loop keeps a core. */
  concurrency: number;
  /** Hashes waiting at most, across addresses; beyond it OVERLOADED (503). */
  maxWaiting: number;
  /** Hashes one client address may hold, running and waiting; beyond it OVERLOADED (503). */
  maxPerAddress: number;
}

export interface PasswordHashing {
  /** Hashes a new password, in `address`'s turn. @throws OverloadedError when it gets none */
  hash(password: string, address: string): Promise<string>;
  /**
   * Checks a password against a stored hash, in `address`'s turn. Without a stored hash (an
   * unknown e-mail) it checks against a dummy one, so both cases cost and wait alike.
   * @throws OverloadedError when it gets no turn
   */
  verify(password: string, stored: string | undefined, address: string): Promise<boolean>;
  /** The queue every hash goes through, for stats (and for tests to watch the order of turns). */
  queue: FairQueue;
  /** Stops the hashing threads. */
  close(): Promise<void>;
}

/** The hashing concurrency the settings ask for, with 0 resolved against this machine's cores. */
export function hashingConcurrency(settings: Pick<PasswordHashingSettings, 'concurrency'>): number {
  return settings.concurrency > 0 ? settings.concurrency : Math.max(1, availableParallelism() - 1);
}

/**
 * Every password hash of the api (sign-up, log-in, the dummy hash of an unknown e-mail) goes
 * through one fair queue keyed by client address, onto scrypt threads of its own: a burst of
 * log-ins from one place holds at most `maxPerAddress` places and waits its own turn behind
 * other addresses (or is refused at once), and hashing never takes libuv's threads from file
 * and DNS work. An address runs at most half the hashing threads (at least one), so with two
 * or more there is always one free for someone else.
 *
 * @param deps.scrypt where the hashes run; default: a pool of `concurrency` threads
 *   (tests may pass a cheaper or a held one)
 */
export function createPasswordHashing(deps: {
  settings: PasswordHashingSettings;
  log: Logger;
  scrypt?: Scrypt;
}): PasswordHashing {
  const concurrency = hashingConcurrency(deps.settings);
  const pool = deps.scrypt ? undefined : createScryptPool({ size: concurrency });
  const scrypt = deps.scrypt ?? pool!.scrypt;
  const queue = createFairQueue({
    concurrency,
    maxWaiting: deps.settings.maxWaiting,
    maxPerKey: deps.settings.maxPerAddress,
    maxRunningPerKey: Math.max(1, Math.floor(concurrency / 2)),
    label: 'password checks',
  });
  // A flood is refused thousands of times a minute: one line a minute says so as well.
  const warn = createThrottledWarn(deps.log, 60_000);
  queue.onRefused((address, reason) =>
    warn(undefined, 'password hashing refused a request (OVERLOADED)', { address, reason, ...queue.stats() }),
  );

  let dummyHash: Promise<string> | undefined;
  /** Made once, inside a queued job; a failure is not kept, so the next unknown e-mail tries again. */
  const unknownUserHash = (): Promise<string> => {
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'), scrypt).catch((error: unknown) => {
      dummyHash = undefined;
      throw error;
    });
    return dummyHash;
  };

  return {
    hash: (password, address) => queue.run(address, () => hashPassword(password, scrypt)),
    verify: (password, stored, address) =>
      queue.run(address, async () => verifyPassword(password, stored ?? (await unknownUserHash()), scrypt)),
    queue,
    close: async () => pool?.close(),
  };
}
