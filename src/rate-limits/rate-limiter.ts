import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createThrottledWarn } from '../cache/throttled-warn';
import type { CacheKeys } from '../cache/keys';
import type { Logger } from '../logger';
import { createRedisWindow } from './redis-window';
import { createMemoryWindow, type SlidingWindow, type WindowResult } from './sliding-window';

/** What a request is counted against. EMAIL counts logIn attempts per address, at the user limit. */
export const POLICIES = ['GLOBAL', 'USER', 'IP', 'BOT', 'EMAIL'] as const;
export type Policy = (typeof POLICIES)[number];

export interface RateLimitSettings {
  enabled: boolean;
  windowSeconds: number;
  /** Requests per window: GLOBAL per api instance, the others shared by all instances. */
  limits: { GLOBAL: number; USER: number; IP: number; BOT: number };
}

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

export type Decision =
  | { admitted: true; states: PolicyState[] }
  | { admitted: false; states: PolicyState[]; policy: Policy; retryAfter: number };

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
  redis?: Redis;
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
  const keyOf = (subject: Subject) => deps.keys.rateLimit(subject.policy.toLowerCase(), subject.id);

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

  return {
    settings,
    /** Hears every decision per counter (the metrics count them). */
    onDecision(listener: (policy: Policy, outcome: 'allowed' | 'rejected') => void): void {
      listeners.push(listener);
    },
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
        return { admitted: true, states };
      }
      tell(subjects[refused]!.policy, 'rejected');
      const takeBack = hits.flatMap(({ result, window }, i) =>
        result.admitted ? [{ subject: subjects[i]!, window }] : [],
      );
      for (const { subject } of takeBack) {
        const state = states[subjects.indexOf(subject)]!;
        state.remaining = Math.min(state.limit, state.remaining + cost);
      }
      await Promise.all(
        takeBack.map(({ subject, window }) =>
          window
            .undo(keyOf(subject), member, cost)
            .catch((error: unknown) => warn(error, 'could not take back a rate-limit admission')),
        ),
      );
      return {
        admitted: false,
        states,
        policy: subjects[refused]!.policy,
        retryAfter: toSeconds(hits[refused]!.result.retryAfterMillis),
      };
    },
  };
}
