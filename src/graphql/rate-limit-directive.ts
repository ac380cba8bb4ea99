import type { ApolloServerPlugin } from '@apollo/server';
import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import { rateLimitDirective } from 'graphql-rate-limit-directive';
import { defaultFieldResolver, responsePathAsArray, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { AppError, ErrorCode } from '../core/errors';
import type { IRateLimiterOptions, RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { isUuid } from '../core/ids';
import type { RequestContext } from './request-context';
import type { Decision, Policy, RateLimiter, Subject } from '../rate-limits/rate-limiter';
import type { LimitTarget } from '../rate-limits/request-limits';

/** What our limiter answers the directive: rate-limiter-flexible's response shape, and the decision. */
interface LimiterResponse extends Pick<RateLimiterRes, 'msBeforeNext' | 'remainingPoints' | 'consumedPoints'> {
  decision: Decision;
}

/**
 * graphql-rate-limit-directive's limiter interface (`consume(key, points)`, resolving when
 * admitted and rejecting with a response when not) over our sliding windows. The directive
 * builds one per limit/duration pair from `limiterOptions`; the key it passes is the JSON of
 * the counters (subjects) the field's policies mean for this request.
 */
class SlidingWindowDirectiveLimiter {
  private readonly limiter: RateLimiter;

  constructor(options: { parleyLimiter: RateLimiter }) {
    this.limiter = options.parleyLimiter;
  }

  async consume(key: string, points = 1): Promise<LimiterResponse> {
    const decision = await this.limiter.check(JSON.parse(key) as Subject[], points);
    const tightest = Math.min(...decision.states.map((state) => state.remaining), Number.MAX_SAFE_INTEGER);
    const response: LimiterResponse = {
      decision,
      msBeforeNext: decision.admitted ? 0 : decision.retryAfter * 1000,
      remainingPoints: tightest,
      consumedPoints: points,
    };
    if (!decision.admitted) throw response;
    return response;
  }
}

/** The field a limited field's GLOBAL counter counts: `Mutation.signUp`. */
const fieldOf = (info: GraphQLResolveInfo) => `${info.parentType.name}.${info.fieldName}`;

/** One run of a field in a request: aliases and list items each have their own path. */
const pathOf = (info: GraphQLResolveInfo) => responsePathAsArray(info.path).join('.');

/**
 * Errors by which a field says the request itself was invalid (malformed input, or naming
 * nothing that exists): such a request is taken back from the shared counters.
 */
const INVALID_REQUEST_CODES = new Set<ErrorCode>([ErrorCode.BAD_USER_INPUT, ErrorCode.NOT_FOUND]);

/** The bot and e-mail a limited field's arguments name, where its policies need them. */
async function targetOf(
  policies: readonly Policy[],
  args: Record<string, unknown>,
  context: RequestContext,
  info: GraphQLResolveInfo,
): Promise<LimitTarget> {
  // Arguments become counters' keys: the ids built from them are bounded (hashed when long)
  // by the request limits, so a 4 MB public key is a 71-character key.
  const target: LimitTarget = { field: fieldOf(info) };
  if (policies.includes('BOT')) {
    if (typeof args.publicKey === 'string') target.botKey = args.publicKey;
    const botId = (args.input as { botId?: unknown } | undefined)?.botId;
    // By public key, as the widget knows its bot: the bot comes through the (cached) loader;
    // an unknown bot is refused by the field itself.
    if (typeof botId === 'string' && isUuid(botId)) target.botKey = (await context.loaders.bot.load(botId))?.publicKey;
  }
  if (policies.includes('EMAIL') && typeof args.email === 'string') target.email = args.email;
  return target;
}

/**
 * Applies `@rateLimit(policies: [...])` from schema/ to the fields carrying it: each run of
 * such a field (each alias too) is counted before its resolver, which never runs when a
 * counter refuses; the refusal is RATE_LIMITED with Retry-After, a 429 for the request.
 */
export function applyRateLimits(schema: GraphQLSchema, limiter: RateLimiter): GraphQLSchema {
  const { rateLimitDirectiveTransformer } = rateLimitDirective<
    RequestContext,
    IRateLimiterOptions & { parleyLimiter: RateLimiter }
  >({
    name: 'rateLimit',
    limiterClass: SlidingWindowDirectiveLimiter as unknown as typeof RateLimiterAbstract,
    limiterOptions: { parleyLimiter: limiter },
    keyGenerator: async (directiveArgs, _source, args, context, info) => {
      // Limits off: nothing to count, and no bot to look up for it.
      if (!limiter.settings.enabled) return '[]';
      const policies = (directiveArgs as unknown as { policies: Policy[] }).policies;
      return JSON.stringify(context.limits.subjects(policies, await targetOf(policies, args, context, info)));
    },
    setState: (response, _args, _source, _fieldArgs, context, info) => {
      context.limits.record((response as unknown as LimiterResponse).decision, pathOf(info));
    },
    onLimit: (response, _args, _source, _fieldArgs, context) => {
      const { decision } = response as unknown as LimiterResponse;
      if (decision.admitted) throw new Error('A rate limit refused an admitted request.');
      throw context.limits.refusal(decision);
    },
  });
  return refundInvalidRequests(rateLimitDirectiveTransformer(schema));
}

/**
 * Wraps each limited field (outside the directive's own wrapper) so that a run the field
 * refuses as invalid is taken back from the shared counters: three addresses sending bad
 * sign-ups used to fill the one global counter and lock everyone out of it.
 */
function refundInvalidRequests(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field) => {
      if (!getDirective(schema, field, 'rateLimit')?.length) return field;
      const resolve = field.resolve ?? defaultFieldResolver;
      return {
        ...field,
        resolve: async (source, args, context: RequestContext, info) => {
          try {
            return await resolve(source, args, context, info);
          } catch (error: unknown) {
            if (error instanceof AppError && INVALID_REQUEST_CODES.has(error.code)) {
              await context.limits.refundShared(pathOf(info));
            }
            throw error;
          }
        },
      };
    },
  });
}

/** Puts the RateLimit headers of the counters a request was checked against on its response. */
export function rateLimitHeadersPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          for (const [name, value] of Object.entries(contextValue.limits.headers())) {
            response.http.headers.set(name, value);
          }
        },
      };
    },
  };
}
