import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import multipart from '@fastify/multipart';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import type { ServerDeps } from './server-deps';
import { AppError, BadRequestError, ErrorCode, StartupError } from '../core/errors';
import { createApolloServer } from '../graphql/apollo';
import { createErrorFormatter } from '../graphql/format-error';
import { graphqlMetricsPlugin } from '../graphql/metrics-plugin';
import { nulGuardPlugin } from '../graphql/nul-guard';
import { createOperationLimits } from '../graphql/operation-limits';
import { buildSchema } from '../graphql/schema';
import { applyRateLimits, rateLimitHeadersPlugin } from '../graphql/rate-limit-directive';
import { responseCachePlugin } from '../graphql/response-cache-plugin';
import { retryableDbError } from '../platform/postgres/pg-errors';
import { resolveViewer, type RequestContext } from '../graphql/request-context';
import { sendAppError, sendInternalError } from './error-reply';
import { createCachedResponses } from './cached-responses';
import { createClientAddress } from './client-address';
import { registerCors } from './cors';
import { limitConnectionsPerAddress } from './connection-limits';
import { OWNER_BODY_LIMIT_BYTES, registerGraphqlRequestBounds } from './graphql-request-bounds';
import { registerHealthRoutes } from './health';
import { bufferedWriteStats, registerBufferHealthRoute } from './health-buffer';
import { registerRedisHealthRoutes } from './health-redis';
import { createMetrics, registerFrontDoorMetrics, registerMetrics } from './metrics';
import { registerAdmissionControl } from './admission-control';
import { withPlayground } from './playground';
import { registerUploadRoute } from './uploads';
import { registerWidgetRoutes } from './widget';
import { attachWebSocketServer } from './websocket';

/** The accept queue's length (connections the kernel holds until the process takes them). */
const LISTEN_BACKLOG = 4096;

/** A connection with nothing going on (no request, no answer) is closed after this. */
const IDLE_CONNECTION_MILLIS = 60_000;
/** A kept-alive connection waits this long for its next request (browsers reuse theirs within it). */
const KEEP_ALIVE_MILLIS = 10_000;
/**
 * How often Node looks for requests past their headers or request time-out: its default of
 * 30 s let a time-out of 10 s hold a socket for up to 40.
 */
const TIMEOUT_CHECK_MILLIS = 1_000;

/** What a client-sent request id must look like to be kept: a UUID, a trace id, a short token. */
const CLIENT_REQUEST_ID = /^[\w.:-]{8,128}$/;

/** The client's `x-request-id` if it looks like an id (it ends up in logs and headers), else a fresh one. */
function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

export interface HttpServer {
  fastify: FastifyInstance;
  /** Listens on the configured host and port; resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function createHttpServer(app: ServerDeps): Promise<HttpServer> {
  const { config } = app;
  const fastify = Fastify({
    loggerInstance: app.log.child({ component: 'http' }) as FastifyBaseLogger,
    // One line per request from the onResponse hook below instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // The largest body of any route but /graphql (which narrows its own per request) and the
    // uploads (multipart, limited by UPLOAD_MAX_BYTES as the file streams).
    bodyLimit: config.http.graphqlMaxBodyBytes,
    // Every connection and request is bounded in time: a client that sends its headers or its
    // body slowly, or nothing at all, gets 408 and its socket closed instead of holding it.
    requestTimeout: config.http.requestTimeoutMillis,
    connectionTimeout: IDLE_CONNECTION_MILLIS,
    keepAliveTimeout: KEEP_ALIVE_MILLIS,
    http: {
      headersTimeout: config.http.headersTimeoutMillis,
      connectionsCheckingInterval: TIMEOUT_CHECK_MILLIS,
    },
    requestIdHeader: false,
    genReqId: (request) => requestIdFrom(request.headers['x-request-id']),
    // request.ip is the socket's peer unless that peer is one of these proxies.
    trustProxy: config.http.trustedProxies.length > 0 ? config.http.trustedProxies : false,
  });

  // Connections that have not sent a request yet (a browser's preconnect, a balancer's probe):
  // nothing is in flight on them, yet Node's close() counts them as busy until their headers
  // time out (60 s), which held shutdown to its time limit. close() ends them at once.
  const unused = new Set<Socket>();
  fastify.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  fastify.server.on('request', (request: IncomingMessage) => unused.delete(request.socket));
  fastify.server.on('upgrade', (request: IncomingMessage) => unused.delete(request.socket));

  // Whom limits count a request as (IPv6 per /64), on every route and the WebSocket alike.
  const clientAddress = createClientAddress(config.http);
  const connections = limitConnectionsPerAddress(fastify.server, {
    maxPerAddress: config.http.maxConnectionsPerIp,
    addressOf: clientAddress.ofConnection,
  });

  fastify.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  const admission = registerAdmissionControl(fastify, config.http.maxInFlight);
  registerGraphqlRequestBounds(fastify, {
    smallLimitBytes: config.http.graphqlMaxBodyBytes,
    isSignedInOwner: async (authorization) => (await resolveViewer(app, authorization)).viewer.kind === 'USER',
  });
  fastify.addHook('onResponse', async (request, reply) => {
    if (request.url.startsWith('/health')) return;
    request.log.info(
      { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
  });
  const writeStats = bufferedWriteStats(app.writePath);
  const metrics = createMetrics({
    db: app.db,
    cacheStats: app.cacheStats,
    buffer: app.buffer,
    writeStats,
    bufferLimits: config.buffer,
    eventLoopPressure: app.eventLoopPressure,
    rateLimiter: app.rateLimiter,
    chunkMemory: app.chunkMemory,
    log: app.log.child({ component: 'metrics' }),
  });
  registerMetrics(fastify, metrics);
  registerFrontDoorMetrics(metrics.registry, { admission, connections });

  // Our own errors carry their status; bad JSON, oversized bodies and unknown content types
  // are the client's fault (Fastify's 4xx); anything else is ours, logged in full and masked.
  fastify.setErrorHandler((error, request, reply) => {
    if (error instanceof AppError) return sendAppError(reply, error, request.id);
    const retryable = retryableDbError(error);
    if (retryable) {
      request.log.warn({ err: error }, 'the database dropped a request; the client may retry');
      return sendAppError(reply, retryable, request.id);
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return sendAppError(reply, new BadRequestError((error as Error).message, status), request.id);
    }
    request.log.error({ err: error }, 'unexpected error');
    return sendInternalError(reply, request.id);
  });
  fastify.setNotFoundHandler((request, reply) =>
    sendAppError(reply, new AppError(ErrorCode.NOT_FOUND, `No route ${request.method} ${request.url}`), request.id),
  );

  registerCors(fastify);
  await fastify.register(multipart);

  // Limits off: no field is wrapped and no response gets RateLimit headers, so nothing runs per field or request.
  const limited = app.rateLimiter.settings.enabled;
  const schema = limited ? applyRateLimits(buildSchema(), app.rateLimiter) : buildSchema();
  const limits = createOperationLimits(config.graphqlLimits);
  const formatError = createErrorFormatter({ hideSuggestions: config.isProduction });
  const ws = attachWebSocketServer({ server: fastify.server, schema, app, limits, formatError, clientAddress });
  const apollo = createApolloServer({
    schema,
    log: app.log.child({ component: 'apollo' }),
    isProduction: config.isProduction,
    formatError,
    limits,
    plugins: [
      ...limits.plugins,
      nulGuardPlugin(),
      ...(limited ? [rateLimitHeadersPlugin()] : []),
      ...(app.responseCache ? [responseCachePlugin({ cache: app.responseCache, schema, rateLimitsOn: limited })] : []),
      graphqlMetricsPlugin(metrics.operations.label),
      fastifyApolloDrainPlugin(fastify),
      { serverWillStart: async () => ({ drainServer: () => ws.close() }) },
    ],
  });
  await apollo.start();

  const graphqlHandler = fastifyApolloHandler<RequestContext>(apollo, {
    context: async (request) => {
      metrics.operations.begin(request);
      try {
        return await app.contextFor({
          requestId: request.id,
          authorization: request.headers.authorization,
          clientIp: clientAddress.of(request.raw),
          origin: request.headers.origin,
          resolved: request.viewerResolution ?? undefined,
        });
      } catch (error: unknown) {
        // A client error (a store telling us to come back later) goes out as it is; so does a
        // database refusing connections (the session look-up in rollback mode): 503, not 500.
        const refusal = error instanceof AppError ? error : retryableDbError(error);
        if (refusal) {
          request.log.warn({ err: error }, 'request refused while building its context');
          throw refusal;
        }
        request.log.error({ err: error }, 'could not build the request context');
        throw new GraphQLError('Internal server error', {
          extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId: request.id, http: { status: 500 } },
        });
      }
    },
  });
  fastify.decorateRequest('viewerResolution', null);
  // Outside production a browser's GET gets GraphiQL, served from our own dependencies.
  fastify.route({
    url: '/graphql',
    method: ['GET', 'POST'],
    bodyLimit: OWNER_BODY_LIMIT_BYTES,
    // A result the response cache holds goes out before Apollo runs (cached-responses.ts).
    ...(app.responseCache
      ? { preHandler: createCachedResponses({ cache: app.responseCache, sessions: app.sessions }) }
      : {}),
    handler: config.isProduction ? graphqlHandler : withPlayground(graphqlHandler),
  });

  registerHealthRoutes(fastify, { db: app.db, log: app.log.child({ component: 'health' }) });
  registerRedisHealthRoutes(fastify, {
    redis: app.clients.redis,
    cacheRedis: app.clients.cacheRedis,
    rateLimiter: app.rateLimiter,
    cacheStats: app.cacheStats,
    log: app.log.child({ component: 'health' }),
  });
  registerBufferHealthRoute(fastify, {
    buffer: app.buffer,
    writeStats,
    limits: config.buffer,
    log: app.log.child({ component: 'health' }),
  });
  registerUploadRoute(fastify, app, clientAddress);
  registerWidgetRoutes(fastify, {
    bots: app.repos.bots,
    isProduction: config.isProduction,
    demoOwnerEmail: app.demoOwnerEmail,
  });

  return {
    fastify,
    async listen() {
      // Thousands of clients connecting at once overflow Node's default accept queue (511) while
      // the process is busy, and the kernel then resets connections; the kernel caps this at
      // net.core.somaxconn.
      await fastify
        .listen({ host: config.http.host, port: config.http.port, backlog: LISTEN_BACKLOG })
        .catch((error: unknown) => {
          const code = (error as { code?: unknown })?.code;
          if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
          const where = `${config.http.host}:${config.http.port}`;
          throw new StartupError(
            code === 'EADDRINUSE'
              ? `Port ${where} is taken by another process (another Parley?); stop it, or set PORT`
              : `Port ${where} may not be opened by this user; set PORT (above 1023) or HOST`,
            { cause: error },
          );
        });
      const address = fastify.server.address();
      const port = typeof address === 'object' && address ? address.port : config.http.port;
      const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
      return `http://${host}:${port}`;
    },
    async close() {
      // WebSockets first: an upgraded socket keeps the HTTP server from closing, so closing
      // it last (Apollo's drainServer does) waited out the whole shutdown time limit. Then
      // Fastify stops taking requests and finishes the ones in flight, then Apollo stops.
      await ws.close();
      for (const socket of unused) socket.destroy();
      await fastify.close();
      await apollo.stop();
    },
  };
}
