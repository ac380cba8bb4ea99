import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import type { AppDeps } from '../app-deps';
import { createApolloServer } from '../graphql/apollo';
import { createContext, type RequestContext } from '../request-context';
import { ErrorCode } from '../errors';
import { buildSchema } from '../graphql/schema';
import { errorBody } from './error-body';
import { registerHealthRoutes } from './health';
import { registerUploadRoute } from './uploads';
import { attachWebSocketServer } from './websocket';

/** A GraphQL request carries at most a TEXT source of 1,000,000 characters (4 MB of UTF-8) plus JSON overhead. */
const GRAPHQL_BODY_LIMIT_BYTES = 5 * 1024 * 1024;

export interface HttpServer {
  fastify: FastifyInstance;
  /** Listens on the configured host and port; resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function createHttpServer(app: AppDeps): Promise<HttpServer> {
  const { config } = app;
  const fastify = Fastify({
    loggerInstance: app.log.child({ component: 'http' }) as FastifyBaseLogger,
    // One line per request from the onResponse hook below instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: GRAPHQL_BODY_LIMIT_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  });

  fastify.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  fastify.addHook('onResponse', async (request, reply) => {
    if (request.url.startsWith('/health')) return;
    request.log.info(
      { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
  });

  // Bad JSON, oversized bodies and unknown content types are the client's fault (4xx);
  // anything else is ours, logged in full and masked.
  fastify.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send(errorBody('BAD_REQUEST', (error as Error).message, request.id));
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send(errorBody(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error', request.id));
  });
  fastify.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('BAD_REQUEST', `No route ${request.method} ${request.url}`, request.id)),
  );

  // The widget runs on customers' sites. Tokens travel in a header, never in cookies,
  // so allowing any origin exposes nothing a page could not already send.
  await fastify.register(cors, {
    origin: '*',
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['content-type', 'authorization', 'apollo-require-preflight', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
  await fastify.register(multipart);

  const schema = buildSchema();
  const ws = attachWebSocketServer({ server: fastify.server, schema, app });
  const apollo = createApolloServer({
    schema,
    log: app.log.child({ component: 'apollo' }),
    isProduction: config.isProduction,
    plugins: [fastifyApolloDrainPlugin(fastify), { serverWillStart: async () => ({ drainServer: () => ws.close() }) }],
  });
  await apollo.start();

  const graphqlHandler = fastifyApolloHandler<RequestContext>(apollo, {
    context: async (request) => {
      try {
        return await createContext(app, { requestId: request.id, authorization: request.headers.authorization });
      } catch (error: unknown) {
        request.log.error({ err: error }, 'could not build the request context');
        throw new GraphQLError('Internal server error', {
          extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId: request.id, http: { status: 500 } },
        });
      }
    },
  });
  fastify.route({ url: '/graphql', method: ['GET', 'POST'], handler: graphqlHandler });

  registerHealthRoutes(fastify, { db: app.db });
  registerUploadRoute(fastify, app);

  return {
    fastify,
    async listen() {
      await fastify.listen({ host: config.http.host, port: config.http.port });
      const address = fastify.server.address();
      const port = typeof address === 'object' && address ? address.port : config.http.port;
      const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
      return `http://${host}:${port}`;
    },
    async close() {
      // Apollo's drain plugins stop new requests and close the sockets, then Fastify closes.
      await fastify.close();
      await apollo.stop();
    },
  };
}
