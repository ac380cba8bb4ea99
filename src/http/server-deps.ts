import type { WriteBuffer } from '../buffer/write-buffer';
import type { CacheStatsCollector } from '../cache/cache-stats';
import type { Config } from '../config/config';
import type { ContextDeps } from '../graphql/request-context';
import type { Clients } from '../platform/clients';
import type { Db } from '../platform/postgres/connection';

/** What the HTTP and WebSocket transports use of the runtime: the request context's services and their own. */
export interface ServerDeps extends ContextDeps {
  config: Config;
  db: Db;
  clients: Pick<Clients, 'redis' | 'cacheRedis'>;
  /** The Redis write buffer sends go to; absent in rollback mode. */
  buffer?: WriteBuffer;
  /** Cache hits and misses; summed across instances in Redis, this process's only in rollback mode. */
  cacheStats: CacheStatsCollector;
  /** The owner whose bots `GET /demo` lists (outside production). */
  demoOwnerEmail: string;
}
