import type { Config } from './config/config';
import { createDb, type Db } from './clients/postgres';
import type { Logger } from './logger';
import { createAuthService, type AuthService } from './auth/auth-service';
import { createInProcessPubSub, type MessageStatusPubSub } from './pubsub/message-status-pubsub';
import { createBotsRepo } from './repos/bots';
import { createChunksRepo } from './repos/chunks';
import { createConversationsRepo } from './repos/conversations';
import { createMessagesRepo } from './repos/messages';
import { createSessionsRepo } from './repos/sessions';
import { createSourcesRepo } from './repos/sources';
import { createUsersRepo } from './repos/users';
import { createLocalEmbedder, type Embedder } from './search/embedder';
import { createRetriever, type Retriever } from './search/retriever';
import { createSessionService, type SessionService } from './sessions/session-service';

export type Repos = ReturnType<typeof createRepos>;

export function createRepos(db: Db) {
  return {
    users: createUsersRepo(db),
    bots: createBotsRepo(db),
    sources: createSourcesRepo(db),
    chunks: createChunksRepo(db),
    conversations: createConversationsRepo(db),
    messages: createMessagesRepo(db),
    sessions: createSessionsRepo(db),
  };
}

/** Long-lived clients and services, built once per process and passed down. */
export interface AppDeps {
  config: Config;
  log: Logger;
  db: Db;
  repos: Repos;
  sessions: SessionService;
  auth: AuthService;
  embedder: Embedder;
  retriever: Retriever;
  pubsub: MessageStatusPubSub;
}

export function createAppDeps(config: Config, log: Logger): AppDeps {
  const db = createDb(config.database, log);
  const repos = createRepos(db);
  const sessions = createSessionService({ sessions: repos.sessions, ttlSeconds: config.sessions.ttlSeconds });
  const embedder = createLocalEmbedder({ dimension: config.embedding.dimension });
  return {
    config,
    log,
    db,
    repos,
    sessions,
    auth: createAuthService({ users: repos.users, sessions }),
    embedder,
    retriever: createRetriever({ embedder, chunks: repos.chunks }),
    pubsub: createInProcessPubSub(),
  };
}
