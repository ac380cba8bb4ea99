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
  /** The viewer `authorization` was already resolved to for this request: not looked up again. */
  resolved?: ViewerResolution;
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

/** Who a request's `Authorization` names; `tokenRejected` when it carried a token that is not (or no longer) valid. */
export interface ViewerResolution {
  viewer: Viewer;
  tokenRejected: boolean;
}

export async function resolveViewer(
  app: { sessions: Pick<SessionService, 'resolve'> },
  authorization: string | undefined,
): Promise<ViewerResolution> {
  const token = bearerToken(authorization);
  if (token === undefined) return { viewer: { kind: 'ANONYMOUS' }, tokenRejected: false };
  const viewer = token === null ? undefined : await app.sessions.resolve(token);
  return viewer ? { viewer, tokenRejected: false } : { viewer: { kind: 'ANONYMOUS' }, tokenRejected: true };
}

/**
 * The services a request may use, each made on its first use: a read needs none of the ones it
 * does not call, and every one made is garbage to collect. One object a request, not a closure
 * a service.
 */
class RequestServices {
  private made: {
    log?: Logger;
    bots?: BotService;
    sources?: SourceService;
    search?: SearchService;
    chat?: ChatService;
  } = {};

  constructor(
    private readonly app: ContextDeps,
    private readonly request: RequestInfo,
    private readonly access: Access,
    private readonly loaders: Loaders,
    private readonly reads: RequestReads,
  ) {}

  log(): Logger {
    return (this.made.log ??= this.app.log.child({ requestId: this.request.requestId }));
  }

  bots(): BotService {
    const { app, access, loaders } = this;
    return (this.made.bots ??= createBotService({
      bots: app.repos.bots,
      access,
      loaders,
      invalidation: app.invalidation,
      sessions: app.sessions,
    }));
  }

  sources(): SourceService {
    const { app, access, loaders } = this;
    return (this.made.sources ??= createSourceService({
      sources: app.repos.sources,
      access,
      loaders,
      invalidation: app.invalidation,
    }));
  }

  search(): SearchService {
    return (this.made.search ??= this.makeSearch());
  }

  private makeSearch(): SearchService {
    const { app, reads } = this;
    const { cache } = app;
    // A search reads the bot's chunks: its result goes with the key that names them.
    const retriever: Retriever = {
      retrieve(botId, query, limit) {
        if (cache) reads.tags.add(cache.keys.botChunks(botId));
        else reads.cacheable = false;
        return app.retriever.retrieve(botId, query, limit);
      },
    };
    return createSearchService({ access: this.access, retriever });
  }

  chat(): ChatService {
    const { app, access, loaders, request } = this;
    // Conversations and messages change with every send, without an invalidation.
    this.reads.cacheable = false;
    return (this.made.chat ??= createChatService({
      access,
      loaders,
      bots: app.repos.bots,
      conversations: app.repos.conversations,
      messages: app.repos.messages,
      writePath: app.writePath,
      ids: app.chatIds,
      pending: app.pendingWrites,
      pressure: app.eventLoopPressure,
      origin: request.origin,
      sessions: app.sessions,
      retriever: app.retriever,
      pubsub: app.pubsub,
    }));
  }
}

/** Where a context keeps its services (a symbol: Apollo's copy of the context copies it too). */
const SERVICES = Symbol('services');

/**
 * A request's context. The services are getters on the class' prototype, shared by every
 * request: Apollo copies the context for each operation with Object.assign onto an object of
 * the same prototype, which copies own properties only (getters on the context itself would all
 * run, making every service), and one prototype keeps every context the same shape for V8.
 */
class Context implements Omit<RequestContext, 'log' | 'bots' | 'sources' | 'search' | 'chat'> {
  readonly requestId: string;
  readonly clientIp: string;
  readonly viewer: Viewer;
  readonly access: Access;
  readonly loaders: Loaders;
  readonly sessions: SessionService;
  readonly auth: AuthService;
  readonly limits: RequestLimits;
  readonly reads: RequestReads;
  readonly [SERVICES]: RequestServices;

  constructor(app: ContextDeps, request: RequestInfo, viewer: Viewer, tokenRejected: boolean) {
    this.requestId = request.requestId;
    this.clientIp = request.clientIp;
    this.viewer = viewer;
    this.reads = newRequestReads();
    this.loaders = createLoaders(app.repos, app.cache, app.pendingWrites, this.reads);
    this.access = createAccess({ viewer, tokenRejected, loaders: this.loaders });
    this.sessions = app.sessions;
    this.auth = app.auth;
    this.limits = createRequestLimits({ limiter: app.rateLimiter, viewer, clientIp: request.clientIp });
    this[SERVICES] = new RequestServices(app, request, this.access, this.loaders, this.reads);
  }

  get log(): Logger {
    return this[SERVICES].log();
  }
  get bots(): BotService {
    return this[SERVICES].bots();
  }
  get sources(): SourceService {
    return this[SERVICES].sources();
  }
  get search(): SearchService {
    return this[SERVICES].search();
  }
  get chat(): ChatService {
    return this[SERVICES].chat();
  }
}

export async function createRequestContext(app: ContextDeps, request: RequestInfo): Promise<RequestContext> {
  const { viewer, tokenRejected } = request.resolved ?? (await resolveViewer(app, request.authorization));
  return new Context(app, request, viewer, tokenRejected);
}
