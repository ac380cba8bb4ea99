import type { AppDeps } from './app-deps';
import { createAccess, type Access } from './auth/access';
import type { AuthService } from './auth/auth-service';
import { createBotService, type BotService } from './bots/bot-service';
import { createChatService, type ChatService } from './chat/chat-service';
import { createLoaders, type Loaders } from './loaders/create-loaders';
import type { Logger } from './logger';
import { createSearchService, type SearchService } from './search/search-service';
import type { SessionService, Viewer } from './sessions/session-service';
import { createSourceService, type SourceService } from './sources/source-service';

/** Everything a resolver may touch, built fresh for each request or subscription. */
export interface RequestContext {
  requestId: string;
  log: Logger;
  viewer: Viewer;
  access: Access;
  loaders: Loaders;
  sessions: SessionService;
  auth: AuthService;
  bots: BotService;
  sources: SourceService;
  search: SearchService;
  chat: ChatService;
}

/** The token of `Bearer <token>`; undefined without a header, null when the header is malformed. */
export function bearerToken(header: string | undefined): string | undefined | null {
  if (header === undefined || header === '') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

export async function resolveViewer(
  app: Pick<AppDeps, 'sessions'>,
  authorization: string | undefined,
): Promise<{ viewer: Viewer; tokenRejected: boolean }> {
  const token = bearerToken(authorization);
  if (token === undefined) return { viewer: { kind: 'ANONYMOUS' }, tokenRejected: false };
  const viewer = token === null ? undefined : await app.sessions.resolve(token);
  return viewer ? { viewer, tokenRejected: false } : { viewer: { kind: 'ANONYMOUS' }, tokenRejected: true };
}

export async function createContext(
  app: AppDeps,
  request: { requestId: string; authorization: string | undefined },
): Promise<RequestContext> {
  const { viewer, tokenRejected } = await resolveViewer(app, request.authorization);
  const loaders = createLoaders(app.repos);
  const access = createAccess({ viewer, tokenRejected, loaders });
  const { repos } = app;
  return {
    requestId: request.requestId,
    log: app.log.child({ requestId: request.requestId }),
    viewer,
    access,
    loaders,
    sessions: app.sessions,
    auth: app.auth,
    bots: createBotService({ bots: repos.bots, access, loaders }),
    sources: createSourceService({ sources: repos.sources, access, loaders }),
    search: createSearchService({ access, retriever: app.retriever }),
    chat: createChatService({
      access,
      loaders,
      bots: repos.bots,
      messages: repos.messages,
      sessions: app.sessions,
      retriever: app.retriever,
      pubsub: app.pubsub,
    }),
  };
}
