import { createHash } from 'node:crypto';
import { RateLimitedError } from '../core/errors';
import type { Viewer } from '../sessions/session-service';
import {
  boundedSubjectId,
  type Admission,
  type Decision,
  type Policy,
  type PolicyState,
  type RateLimiter,
  type Subject,
} from './rate-limiter';

/** What the counters of a request are about, beyond the viewer and the address. */
export interface LimitTarget {
  /**
   * What the GLOBAL counter counts: the field (`Mutation.signUp`), or what a plain route does
   * like (an upload is a `Mutation.createSource`). One counter per field, so that a flood of
   * sign-ups cannot use up the room of chat.
   */
  field: string;
  /** The bot the widget traffic goes to, by its public key (known to both the widget and the api). */
  botKey?: string;
  /** The address a logIn is for. */
  email?: string;
}

/**
 * The counters everyone shares: a request the field refuses as invalid is taken back from
 * these (`refundShared`), and stays counted only against its sender's own (USER, IP, EMAIL,
 * LOGIN), so that a stranger's bad requests cannot spend other people's room.
 */
const SHARED_POLICIES: readonly Policy[] = ['GLOBAL', 'BOT'];

/** What a refusal tells the client, per counter that refused. */
const REFUSALS: Record<Policy, string> = {
  GLOBAL: 'This server is taking too many requests',
  USER: 'Too many requests from your account',
  IP: 'Too many requests from your address',
  BOT: 'Too many requests to this bot',
  EMAIL: 'Too many sign-in attempts for this e-mail address',
  LOGIN: 'Too many sign-in attempts from your address',
};

/**
 * The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` lists
 * each counter's quota and window, `RateLimit` what is left of it and when the oldest request
 * counted leaves the window.
 */
export function rateLimitHeaders(states: readonly PolicyState[]): Record<string, string> {
  if (states.length === 0) return {};
  const name = (state: PolicyState) => `"${state.policy.toLowerCase()}"`;
  return {
    'ratelimit-policy': states.map((state) => `${name(state)};q=${state.limit};w=${state.windowSeconds}`).join(', '),
    ratelimit: states.map((state) => `${name(state)};r=${state.remaining};t=${state.resetSeconds}`).join(', '),
  };
}

export type RequestLimits = ReturnType<typeof createRequestLimits>;

/**
 * A request's view of the rate limits: which counters a policy means for this viewer and
 * address, the checks (throwing RATE_LIMITED, 429, when refused), and the states the
 * response's RateLimit headers report. Enterprise accounts (the plan comes from the session)
 * are not held to the per-user and per-address limits.
 */
export function createRequestLimits(deps: { limiter: RateLimiter; viewer: Viewer; clientIp: string }) {
  const { viewer } = deps;
  const enterprise = viewer.kind === 'USER' && viewer.plan === 'ENTERPRISE';
  /** The latest state of each counter this request was checked against. */
  const states = new Map<Policy, PolicyState>();
  /** What each run of a limited field was counted as, by its response path (each alias has its own). */
  const admissions = new Map<string, Admission>();

  const subjectFor = (policy: Policy, target: LimitTarget): Subject | undefined => {
    switch (policy) {
      case 'GLOBAL':
        return { policy, id: target.field };
      case 'USER':
        if (enterprise) return undefined;
        if (viewer.kind === 'USER') return { policy, id: viewer.userId };
        return viewer.kind === 'VISITOR' ? { policy, id: viewer.visitorId } : undefined;
      case 'IP':
        return enterprise ? undefined : { policy, id: deps.clientIp };
      case 'BOT':
        return target.botKey === undefined ? undefined : { policy, id: boundedSubjectId(target.botKey) };
      case 'EMAIL':
        // Per e-mail address AND client address: guesses from one place cannot lock the
        // account's owner out from another (LOGIN and the global counter bound the guessing).
        return target.email === undefined
          ? undefined
          : {
              policy,
              id: createHash('sha256').update(`${target.email.trim().toLowerCase()}\n${deps.clientIp}`).digest('hex'),
            };
      case 'LOGIN':
        return { policy, id: deps.clientIp };
    }
  };

  const record = (decision: Decision): void => {
    for (const state of decision.states) states.set(state.policy, state);
  };

  const refusal = (decision: Extract<Decision, { admitted: false }>) =>
    new RateLimitedError(
      decision.retryAfter,
      `${REFUSALS[decision.policy]}: try again in ${decision.retryAfter} s.`,
      rateLimitHeaders(decision.states),
    );

  /** The counters `policies` mean for this request. */
  const subjects = (policies: readonly Policy[], target: LimitTarget): Subject[] =>
    policies.flatMap((policy) => subjectFor(policy, target) ?? []);

  return {
    subjects,
    /** Keeps a field run's decision: its counters for the headers, its admission for `refundShared`. */
    record(decision: Decision, path?: string): void {
      record(decision);
      if (path !== undefined && decision.admitted && decision.admission) admissions.set(path, decision.admission);
    },
    refusal,
    /** Counts the request against `policies`; throws RATE_LIMITED when any refuses it. */
    async check(policies: readonly Policy[], target: LimitTarget, cost = 1): Promise<void> {
      const decision = await deps.limiter.check(subjects(policies, target), cost);
      record(decision);
      if (!decision.admitted) throw refusal(decision);
    },
    /** Takes the field run at `path` back from the shared counters: the field found it invalid. */
    async refundShared(path: string): Promise<void> {
      const admission = admissions.get(path);
      if (!admission) return;
      admissions.delete(path);
      await deps.limiter.undo(admission, SHARED_POLICIES);
    },
    /** The RateLimit headers for the response, from every counter checked so far. */
    headers: () => rateLimitHeaders([...states.values()]),
  };
}
