import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../platform/redis/connection';
import { createThrottledWarn } from '../core/throttled-warn';
import type { CacheKeys } from '../platform/redis/keys';
import type { Logger } from '../core/logger';
import { createRedisWindow } from './redis-window';
import { createMemoryWindow, type SlidingWindow, type WindowResult } from './sliding-window';
import type { RateLimitSettings } from '../config/config';

/**
 * What a request is counted against. EMAIL counts logIn attempts per e-mail address and client
 * address, at the user limit; LOGIN counts password attempts (logIn, signUp) per client address.
 */
export type Policy = 'GLOBAL' | 'USER' | 'IP' | 'BOT' | 'EMAIL' | 'LOGIN';

/** One counter a request is checked against: a policy and whom it counts (a user id, an address, …). */
export interface Subject {
  policy: Policy;
  id: string;
}

/** A counter's state after a check, as the RateLimit headers report it. */
export interface PolicyState {
  policy: Policy;
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Whole seconds until the oldest counted request leaves the window. */
  resetSeconds: number;
}

/** What one admitted request was counted as, so that it can be taken back (`undo`). */
export interface Admission {
  subjects: Subject[];
  member: string;
  cost: number;
}

export type Decision =
  | { admitted: true; states: PolicyState[]; admission?: Admission }
  | { admitted: false; states: PolicyState[]; policy: Policy; retryAfter: number };

/** Subject ids this long or longer, or with other characters, are hashed before they become a key. */
const SUBJECT_ID_MAX = 128;
const SUBJECT_ID_CHARS = /^[\w.:/@-]*$/;

/**
 * A subject id as a key may hold it: as it is when short and plain (a user id, an address),
 * else its sha256. Some ids come from what a client sent (a widget's public key): a 4 MB
 * argument must not become a 4 MB key in Redis or in memory.
 */
export function boundedSubjectId(id: string): string {
  if (id.length < SUBJECT_ID_MAX && SUBJECT_ID_CHARS.test(id)) return id;
  return `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

const toSeconds = (millis: number) => Math.max(1, Math.ceil(millis / 1000));

/**
 * Checks a request against its counters, each an exact sliding window: in Redis (shared by
 * every api instance) for the user, address, bot and e-mail counters, in memory for the
 * per-instance global one. While Redis cannot answer, those counters fall back to this
 * instance's memory: limits get looser across instances, but a limiter never fails a request.
 * A request refused by one counter is taken back from the ones that had admitted it.
 */
export function createRateLimiter(deps: {
  redis?: RedisClient;
  keys: CacheKeys;
  settings: RateLimitSettings;
  log: Logger;
  now?: () => number;
}) {
  const { settings } = deps;
  const memory = createMemoryWindow({ now: deps.now });
  const shared = deps.redis && createRedisWindow(deps.redis);
  const warn = createThrottledWarn(deps.log, 60_000);
  const windowMillis = settings.windowSeconds * 1000;
  const listeners: ((policy: Policy, outcome: 'allowed' | 'rejected') => void)[] = [];
  const tell = (policy: Policy, outcome: 'allowed' | 'rejected') => {
    for (const listener of listeners) listener(policy, outcome);
  };
  /** When the shared counters last failed over to memory; undefined while Redis answers. */
  let fellBackAt: number | undefined;

  const limitOf = (policy: Policy) => (policy === 'EMAIL' ? settings.limits.USER : settings.limits[policy]);
  const keyOf = (subject: Subject) => deps.keys.rateLimit(subject.policy.toLowerCase(), boundedSubjectId(subject.id));

  async function hit(
    subject: Subject,
    cost: number,
    member: string,
  ): Promise<{ result: WindowResult; window: SlidingWindow }> {
    const limit = limitOf(subject.policy);
    const key = keyOf(subject);
    if (subject.policy !== 'GLOBAL' && shared) {
      try {
        const result = await shared.hit(key, limit, windowMillis, cost, member);
        fellBackAt = undefined;
        return { result, window: shared };
      } catch (error: unknown) {
        fellBackAt ??= Date.now();
        warn(error, 'rate limits cannot reach Redis; counting in this instance only until it answers');
      }
    }
    return { result: await memory.hit(key, limit, windowMillis, cost, member), window: memory };
  }

  const stateOf = (subject: Subject, result: WindowResult): PolicyState => {
    const limit = limitOf(subject.policy);
    return {
      policy: subject.policy,
      limit,
      windowSeconds: settings.windowSeconds,
      remaining: Math.max(0, limit - result.count),
      resetSeconds: toSeconds(result.resetMillis),
    };
  };

  const undoIn = (window: SlidingWindow, subject: Subject, member: string, cost: number) =>
    window
      .undo(keyOf(subject), member, cost)
      .catch((error: unknown) => warn(error, 'could not take back a rate-limit admission'));
  /** The window a subject's counter lives in now (Redis unless it is GLOBAL or Redis failed over). */
  const windowOf = (subject: Subject) =>
    subject.policy !== 'GLOBAL' && shared && fellBackAt === undefined ? shared : memory;

  return {
    settings,
    /**
     * Takes an admitted request back from some of its counters (`policies`): a request the
     * field found invalid is not held against the counters it shares with everyone else.
     */
    async undo(admission: Admission, policies: readonly Policy[]): Promise<void> {
      const subjects = admission.subjects.filter((subject) => policies.includes(subject.policy));
      await Promise.all(
        subjects.map((subject) => undoIn(windowOf(subject), subject, admission.member, admission.cost)),
      );
    },
    /** Hears every decision per counter (the metrics count them). */
    onDecision(listener: (policy: Policy, outcome: 'allowed' | 'rejected') => void): void {
      listeners.push(listener);
    },
    /** What this instance's in-memory counters hold: keys, and estimated bytes. */
    memoryUsage: () => memory.size!(),
    /** Where the shared counters are kept right now. */
    mode(): { store: 'redis' | 'memory'; since?: string } {
      if (!shared) return { store: 'memory' };
      return fellBackAt === undefined
        ? { store: 'redis' }
        : { store: 'memory', since: new Date(fellBackAt).toISOString() };
    },

    /**
     * Counts one request of `cost` units against every subject at once (the checks go to Redis
     * in one pipeline). When any refuses, the others' admissions are taken back, so a refused
     * request does not use up their room; the first refusing subject, in the order given, is
     * the one reported.
     */
    async check(subjects: readonly Subject[], cost = 1): Promise<Decision> {
      if (!settings.enabled || subjects.length === 0) return { admitted: true, states: [] };
      const member = randomUUID();
      const hits = await Promise.all(subjects.map((subject) => hit(subject, cost, member)));
      const states = hits.map(({ result }, i) => stateOf(subjects[i]!, result));
      const refused = hits.findIndex(({ result }) => !result.admitted);
      if (refused < 0) {
        for (const subject of subjects) tell(subject.policy, 'allowed');
        return { admitted: true, states, admission: { subjects: [...subjects], member, cost } };
      }
      tell(subjects[refused]!.policy, 'rejected');
      const takeBack = hits.flatMap(({ result, window }, i) =>
        result.admitted ? [{ subject: subjects[i]!, window }] : [],
      );
      for (const { subject } of takeBack) {
        const state = states[subjects.indexOf(subject)]!;
        state.remaining = Math.min(state.limit, state.remaining + cost);
      }
      await Promise.all(takeBack.map(({ subject, window }) => undoIn(window, subject, member, cost)));
      return {
        admitted: false,
        states,
        policy: subjects[refused]!.policy,
        retryAfter: toSeconds(hits[refused]!.result.retryAfterMillis),
      };
    },
  };
}
