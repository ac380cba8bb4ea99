import DataLoader from 'dataloader';
import { once } from '../core/once';
import type { EntityCache } from '../cache/entity-cache';
import type { CacheKeys, KeyFamily } from '../platform/redis/keys';
import { noPendingWrites, type PendingWrites } from '../buffer/pending-writes';
import { NotFoundError } from '../core/errors';
import type { BotsRepo } from '../repos/bots';
import type { ConversationsRepo } from '../repos/conversations';
import { newRequestReads, type RequestReads } from '../cache/response-cache';
import type { BotRecord, ConversationRecord, SourceRecord, UserRecord } from '../repos/records';
import type { SourcesRepo } from '../repos/sources';
import type { UsersRepo } from '../repos/users';

/** Rows grouped by `keyOf`, one group per key in key order (DataLoader's contract), through a Map. */
function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key) ?? []);
}

/** The entity behind `id`, or NOT_FOUND naming it as `entity`. */
export async function loadExisting<T>(loader: DataLoader<string, T | null>, entity: string, id: string): Promise<T> {
  const value = await loader.load(id);
  if (!value) throw new NotFoundError(entity, id);
  return value;
}

export interface LoaderRepos {
  users: UsersRepo;
  bots: BotsRepo;
  sources: SourcesRepo;
  conversations: ConversationsRepo;
}

const byId = <T extends { id: string }>(rows: T[]) => new Map(rows.map((row) => [row.id, row]));

/** `ids` grouped by `keyOf`, every requested key present (an empty list when it has none). */
function idsBy<T extends { id: string }>(keys: readonly string[], rows: T[], keyOf: (row: T) => string) {
  return new Map(groupBy(keys, rows, keyOf).map((group, i) => [keys[i]!, group.map((row) => row.id)]));
}

export type Loaders = ReturnType<typeof createLoaders>;

/**
 * Fresh per request, so nothing one viewer loaded is served to another. With an entity
 * cache (Redis enabled) each batch reads the L1 and Redis first and PostgreSQL only for
 * misses; access rules are checked on what the loaders return, cached or not.
 */
export function createLoaders(
  repos: LoaderRepos,
  cache?: { entities: EntityCache; keys: CacheKeys },
  pending: Pick<PendingWrites, 'conversations'> = noPendingWrites,
  /** What the request read, for the response cache (every entity's cache key); none by default. */
  reads: RequestReads = newRequestReads(),
) {
  const batch = <V>(
    family: Exclude<KeyFamily, 'session' | 'vector'>,
    load: (ids: readonly string[]) => Promise<Map<string, V>>,
  ): DataLoader.BatchLoadFn<string, V | null> => {
    if (!cache) {
      return async (ids) => {
        const rows = await load(ids);
        return ids.map((id) => rows.get(id) ?? null);
      };
    }
    const cached = cache.entities.batch({ family, key: cache.keys[family], load });
    return (ids) => {
      for (const id of ids) reads.tags.add(cache.keys[family](id));
      return cached(ids);
    };
  };

  // Each loader is made on its first use: most requests touch two or three of them.
  const source = once(
    () =>
      new DataLoader<string, SourceRecord | null>(
        batch('source', async (ids) => byId(await repos.sources.findByIds(ids))),
      ),
  );
  const bot = once(
    () => new DataLoader<string, BotRecord | null>(batch('bot', async (ids) => byId(await repos.bots.findByIds(ids)))),
  );
  /** A bot's source ids, oldest first; the sources themselves come through `source`. */
  const sourceIdsByBot = once(
    () =>
      new DataLoader<string, string[] | null>(
        batch('sourcesByBot', async (botIds) =>
          idsBy(botIds, await repos.sources.listByBots(botIds), (row) => row.botId),
        ),
      ),
  );
  /** An owner's bot ids in creation order. */
  const botIdsByOwner = once(
    () =>
      new DataLoader<string, string[] | null>(
        batch('botsByUser', async (ownerIds) =>
          idsBy(ownerIds, await repos.bots.listByOwners(ownerIds), (row) => row.ownerId),
        ),
      ),
  );
  const user = once(
    () =>
      new DataLoader<string, UserRecord | null>(batch('user', async (ids) => byId(await repos.users.findByIds(ids)))),
  );
  /** A bot's message counters, from PostgreSQL every time (see BotsRepo.activityByIds). */
  const botActivity = once(
    () =>
      new DataLoader<string, { messageCount: number; lastActiveAt: Date | null } | null>(async (ids) => {
        // Counters move with every flush, which invalidates nothing.
        reads.cacheable = false;
        const rows = byId(await repos.bots.activityByIds(ids));
        return ids.map((id) => rows.get(id) ?? null);
      }),
  );
  const conversation = once(() => {
    const load = batch<ConversationRecord>('conversation', async (ids) => {
      // A conversation whose first exchange is still in the write buffer exists for its sender
      // already. The buffer is asked first: a worker acknowledges an intent only after its
      // COMMIT, so what the buffer no longer holds, PostgreSQL already does. Asked the other
      // way round, a flush between the two reads would hide the conversation from both.
      const buffered = await pending.conversations(ids);
      const rest = ids.filter((id) => !buffered.has(id));
      if (rest.length === 0) return buffered;
      return new Map([...buffered, ...byId(await repos.conversations.findByIds(rest))]);
    });
    return new DataLoader<string, ConversationRecord | null>((ids) => {
      // A conversation's lastMessageAt moves with every flush, which invalidates nothing.
      reads.cacheable = false;
      return load(ids);
    });
  });

  return {
    /**
     * A conversation this request has just started (its first exchange buffered): known to this
     * request's loader, and cached for the sends after it. Not awaited by the caller; never rejects.
     */
    startedConversation(record: ConversationRecord): Promise<unknown> {
      conversation().prime(record.id, record);
      return cache ? cache.entities.prime(cache.keys.conversation(record.id), record) : Promise.resolve();
    },
    get user() {
      return user();
    },
    get bot() {
      return bot();
    },
    get source() {
      return source();
    },
    get botIdsByOwner() {
      return botIdsByOwner();
    },
    get botActivity() {
      return botActivity();
    },
    get sourceIdsByBot() {
      return sourceIdsByBot();
    },
    /** A bot's sources, oldest first (a source deleted meanwhile is left out). */
    sourcesByBot: {
      async load(botId: string): Promise<SourceRecord[]> {
        const ids = (await sourceIdsByBot().load(botId)) ?? [];
        const sources = await source().loadMany(ids);
        return sources.filter((item): item is SourceRecord => item !== null && !(item instanceof Error));
      },
    },
    get conversation() {
      return conversation();
    },
  };
}
