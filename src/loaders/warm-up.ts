import { createLoaders, type LoaderRepos } from './create-loaders';
import type { Logger } from '../core/logger';
import type { EntityCache } from '../cache/entity-cache';
import type { CacheKeys } from '../platform/redis/keys';

export interface WarmUpResult {
  bots: number;
  millis: number;
  /** False when the budget ran out first; the loads then go on in the background. */
  complete: boolean;
  /** Settles when the loads are done, in time or not. */
  done: Promise<unknown>;
}

/**
 * Loads the most active bots (by last activity, then messages), their owners and their
 * source lists through the cache, so the first requests after a start or a deploy find them
 * in Redis and the L1. Never holds start-up longer than `budgetMillis`, and never fails it:
 * a cold cache is slower, not broken.
 */
export async function warmUpCache(deps: {
  repos: LoaderRepos;
  cache: { entities: EntityCache; keys: CacheKeys };
  log: Logger;
  /** Default 100. */
  limit?: number;
  /** Default 2000. */
  budgetMillis?: number;
}): Promise<WarmUpResult> {
  const started = performance.now();
  const limit = deps.limit ?? 100;
  const budgetMillis = deps.budgetMillis ?? 2000;
  const loaders = createLoaders(deps.repos, deps.cache);
  let bots = 0;
  const work = (async () => {
    const ids = await deps.repos.bots.mostActiveIds(limit);
    const loaded = await loaders.bot.loadMany(ids);
    const ownerIds = [...new Set(loaded.flatMap((bot) => (bot && !(bot instanceof Error) ? [bot.ownerId] : [])))];
    await Promise.all([loaders.user.loadMany(ownerIds), ...ids.map((id) => loaders.sourcesByBot.load(id))]);
    bots = ids.length;
    return true;
  })().catch((error: unknown) => {
    deps.log.warn({ err: error }, 'cache warm-up failed; starting cold');
    return true;
  });
  let timer: NodeJS.Timeout | undefined;
  const complete = await Promise.race([
    work,
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMillis);
    }),
  ]);
  clearTimeout(timer);
  const result = { bots, millis: Math.round(performance.now() - started), complete };
  deps.log.info(result, complete ? 'cache warmed up' : 'cache warm-up goes on in the background');
  return { ...result, done: work };
}
