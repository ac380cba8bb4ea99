import DataLoader from 'dataloader';
import { NotFoundError } from '../errors';
import type { BotsRepo } from '../repos/bots';
import type { ConversationsRepo } from '../repos/conversations';
import type { BotRecord, ConversationRecord, SourceRecord, UserRecord } from '../repos/records';
import type { SourcesRepo } from '../repos/sources';
import type { UsersRepo } from '../repos/users';

/** DataLoader's contract: one result per key, in key order. Built through a Map, never a scan per key. */
export function orderById<T extends { id: string }>(keys: readonly string[], rows: T[]): (T | null)[] {
  const byId = new Map(rows.map((row) => [row.id, row]));
  return keys.map((key) => byId.get(key) ?? null);
}

export function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
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

export type Loaders = ReturnType<typeof createLoaders>;

/** Fresh per request, so nothing one viewer loaded is served to another. */
export function createLoaders(repos: LoaderRepos) {
  return {
    user: new DataLoader<string, UserRecord | null>(async (ids) => orderById(ids, await repos.users.findByIds(ids))),
    bot: new DataLoader<string, BotRecord | null>(async (ids) => orderById(ids, await repos.bots.findByIds(ids))),
    source: new DataLoader<string, SourceRecord | null>(async (ids) =>
      orderById(ids, await repos.sources.findByIds(ids)),
    ),
    sourcesByBot: new DataLoader<string, SourceRecord[]>(async (botIds) =>
      groupBy(botIds, await repos.sources.listByBots(botIds), (source) => source.botId),
    ),
    conversation: new DataLoader<string, ConversationRecord | null>(async (ids) =>
      orderById(ids, await repos.conversations.findByIds(ids)),
    ),
  };
}
