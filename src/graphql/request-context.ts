import { createAccess, type Access } from '../auth/access';
import type { AuthService } from '../auth/auth-service';
import { createBotService, type BotService } from '../bots/bot-service';
import { createChatService, type ChatService } from '../chat/chat-service';
import { createLoaders, type Loaders } from '../loaders/create-loaders';
import type { Logger } from '../core/logger';
import { createSearchService, type SearchService } from '../search/search-service';
import type { SessionService, Viewer } from '../sessions/session-service';
import { createSourceService, type SourceService } from '../sources/source-service';
import type { Repos } from '../repos/repos';
import type { EntityCache } from '../cache/entity-cache';
import type { CacheInvalidation } from '../cache/invalidation';
import type { CacheKeys } from '../platform/redis/keys';
import type { PendingWrites } from '../buffer/pending-writes';
import type { ChatIds } from '../chat/chat-service';
import { once } from '../core/once';
import { newRequestReads, type RequestReads } from '../cache/response-cache';
import type { ChatWritePath } from '../chat/write-path';
import type { EventLoopPressure } from '../chat/event-loop-pressure';
import type { MessageStatusPubSub } from '../pubsub/message-status-pubsub';
import type { Retriever } from '../search/retriever';
import type { RateLimiter } from '../rate-limits/rate-limiter';
import { createRequestLimits, type RequestLimits } from '../rate-limits/request-limits';

/** What a transport knows of a request before any domain code runs. */
export interface RequestInfo {
  requestId: string;
  /** The `Authorization` header, or its equivalent in a WebSocket's `connection_init`. */
  authorization: string | undefined;
  /** The client's address: the socket's peer, or X-Forwarded-For's when that peer is a trusted proxy. */
  clientIp: string;
  /** The `Origin` header: the page a browser request comes from (absent outside browsers). */
  origin?: string;
}

/**
 * Everything a resolver, the upload route or a subscription may touch, built fresh for
 * each request or subscription operation.
 */
export interface RequestContext {
  requestId: string;
  clientIp: string;
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
  /** Rate-limit checks for this request, and the states its RateLimit headers report. */
  limits: RequestLimits;
  /** What the request read, for the response cache: the cache keys it loaded, and whether they cover all of it. */
  reads: RequestReads;
}

/** The long-lived services a request's context is built from (the runtime's, passed down). */
export interface ContextDeps {
  log: Logger;
  repos: Repos;
  /** The entity cache the loaders read through; absent in rollback mode. */
  cache?: { entities: EntityCache; keys: CacheKeys };
  /** What reads add from sends not yet stored (read-your-writes); nothing in rollback mode. */
  pendingWrites: PendingWrites;
  sessions: SessionService;
  auth: AuthService;
  /** Told of every committed change, so no cache serves what it replaced. */
  invalidation: CacheInvalidation;
  retriever: Retriever;
  /** The sliding-window counters behind `@rateLimit`, uploads and subscribing. */
  rateLimiter: RateLimiter;
  writePath: ChatWritePath;
  /** Mints conversation and message ids in the write buffer's shard of their conversation. */
  chatIds: ChatIds;
  /** Refuses sends while the event loop lags. */
  eventLoopPressure: EventLoopPressure;
  pubsub: MessageStatusPubSub;
}

/** Our tokens are 43 characters; anything far longer is not one, and is not scanned. */
const AUTHORIZATION_MAX = 512;

/** The token of `Bearer <token>`; undefined without a header, null when the header is malformed. */
export function bearerToken(header: string | undefined): string | undefined | null {
  if (header === undefined || header === '') return undefined;
  if (header.length > AUTHORIZATION_MAX) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

export async function resolveViewer(
  app: { sessions: Pick<SessionService, 'resolve'> },
  authorization: string | undefined,
): Promise<{ viewer: Viewer; tokenRejected: boolean }> {
  const token = bearerToken(authorization);
  if (token === undefined) return { viewer: { kind: 'ANONYMOUS' }, tokenRejected: false };
  const viewer = token === null ? undefined : await app.sessions.resolve(token);
  return viewer ? { viewer, tokenRejected: false } : { viewer: { kind: 'ANONYMOUS' }, tokenRejected: true };
}

export async function createRequestContext(app: ContextDeps, request: RequestInfo): Promise<RequestContext> {
  const { viewer, tokenRejected } = await resolveViewer(app, request.authorization);
  const reads = newRequestReads();
  const loaders = createLoaders(app.repos, app.cache, app.pendingWrites, reads);
  const access = createAccess({ viewer, tokenRejected, loaders });
  const { repos } = app;
  // What a request may not use is made on first use: a read needs none of the services it
  // does not call, and every one made is garbage to collect.
  const log = once(() => app.log.child({ requestId: request.requestId }));
  const bots = once(() =>
    createBotService({ bots: repos.bots, access, loaders, invalidation: app.invalidation, sessions: app.sessions }),
  );
  const sources = once(() =>
    createSourceService({ sources: repos.sources, access, loaders, invalidation: app.invalidation }),
  );
  const search = once(() => {
    const { cache } = app;
    // A search reads the bot's chunks: its result goes with the key that names them.
    const retriever: Retriever = {
      retrieve(botId, query, limit) {
        if (cache) reads.tags.add(cache.keys.botChunks(botId));
        else reads.cacheable = false;
        return app.retriever.retrieve(botId, query, limit);
      },
    };
    return createSearchService({ access, retriever });
  });
  const chat = once(() =>
    createChatService({
      access,
      loaders,
      bots: repos.bots,
      conversations: repos.conversations,
      messages: repos.messages,
      writePath: app.writePath,
      ids: app.chatIds,
      pending: app.pendingWrites,
      pressure: app.eventLoopPressure,
      origin: request.origin,
      sessions: app.sessions,
      retriever: app.retriever,
      pubsub: app.pubsub,
    }),
  );
  // The services made on first use are getters on the context's prototype, not on the context:
  // Apollo copies the context for every operation with Object.assign onto an object of the same
  // prototype, which would call every getter of the context itself (and so make every service).
  const lazy: Pick<RequestContext, 'log' | 'bots' | 'sources' | 'search' | 'chat'> = {
    get log() {
      return log();
    },
    get bots() {
      return bots();
    },
    get sources() {
      return sources();
    },
    get search() {
      return search();
    },
    get chat() {
      // Conversations and messages change with every send, without an invalidation.
      reads.cacheable = false;
      return chat();
    },
  };
  const context: Omit<RequestContext, keyof typeof lazy> = {
    requestId: request.requestId,
    clientIp: request.clientIp,
    viewer,
    access,
    loaders,
    sessions: app.sessions,
    auth: app.auth,
    limits: createRequestLimits({ limiter: app.rateLimiter, viewer, clientIp: request.clientIp }),
    reads,
  };
  return Object.assign(Object.create(lazy) as RequestContext, context);
}
