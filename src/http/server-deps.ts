import type { WriteBuffer } from '../buffer/write-buffer';
import type { CacheStatsCollector } from '../cache/cache-stats';
import type { EventLoopPressure } from '../chat/event-loop-pressure';
import type { ChatWritePath } from '../chat/write-path';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { RequestContext, RequestInfo } from '../graphql/request-context';
import type { Clients } from '../platform/clients';
import type { Db } from '../platform/postgres/connection';
import type { RateLimiter } from '../rate-limits/rate-limiter';
import type { BotsRepo } from '../repos/bots';
import type { ChunkMemory } from '../search/chunk-memory';
import type { ResponseCache } from '../cache/response-cache';
import type { SessionService } from '../sessions/session-service';

/** What the HTTP and WebSocket transports use of the runtime, and nothing more. */
export interface ServerDeps {
  config: Config;
  log: Logger;
  /** The request's context (viewer, access, loaders, services), built fresh per request or subscription operation. */
  contextFor(request: RequestInfo): Promise<RequestContext>;
  /** Tokens: who a request is before its context (body limits), and live re-checks of open sockets. */
  sessions: Pick<SessionService, 'resolve' | 'isLive' | 'onEnded'>;
  /** The sliding-window counters behind `@rateLimit`, uploads and subscribing. */
  rateLimiter: RateLimiter;
  /** Health and metrics read these. */
  db: Db;
  clients: Pick<Clients, 'redis' | 'cacheRedis'>;
  /** The Redis write buffer sends go to; absent in rollback mode. */
  buffer?: WriteBuffer;
  writePath: ChatWritePath;
  eventLoopPressure: EventLoopPressure;
  /** Whole query results held in process (the api with Redis); absent: every query runs. */
  responseCache?: ResponseCache;
  /** Bots' chunks held in process (the api with Redis): /metrics reports them. */
  chunkMemory?: Pick<ChunkMemory, 'stats'>;
  /** Cache hits and misses; summed across instances in Redis, this process's only in rollback mode. */
  cacheStats: CacheStatsCollector;
  /** The widget's demo pages list and show bots. */
  repos: { bots: Pick<BotsRepo, 'listByOwnerEmail' | 'findByPublicKey'> };
  /** The owner whose bots `GET /demo` lists (outside production). */
  demoOwnerEmail: string;
}
