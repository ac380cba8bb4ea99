import type { Db } from '../platform/postgres/connection';
import { createBotsRepo } from './bots';
import { createChunksRepo } from './chunks';
import { createConversationsRepo } from './conversations';
import { createMessagesRepo } from './messages';
import { createSourcesRepo } from './sources';
import { createUsersRepo } from './users';

export type Repos = ReturnType<typeof createRepos>;

/** One repository per entity, each over the pool it is given (a call may pass a transaction instead). */
export function createRepos(db: Db) {
  return {
    users: createUsersRepo(db),
    bots: createBotsRepo(db),
    sources: createSourcesRepo(db),
    chunks: createChunksRepo(db),
    conversations: createConversationsRepo(db),
    messages: createMessagesRepo(db),
  };
}
