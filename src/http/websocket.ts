import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ServerDeps } from './server-deps';
import { AppError, ErrorCode, OverloadedError } from '../core/errors';
import { isClientSafe, type ErrorFormatter } from '../graphql/format-error';
import { retryableDbError } from '../platform/postgres/pg-errors';
import { assertNoNul } from '../graphql/nul-guard';
import type { OperationLimits } from '../graphql/operation-limits';
import { variablesShapeProblem } from '../graphql/variables-shape';
import { bearerToken, type RequestContext } from '../graphql/request-context';
import type { SignedInViewer } from '../sessions/session-service';
import type { ClientAddress } from './client-address';

/** Close codes a client can act on (graphql-ws keeps 4400–4499 for such reasons). */
const WS_CLOSE = {
  /**
   * graphql-ws' "Unauthorized": the token sent in connection_init is unknown or expired, or
   * the socket's session ended (log-out, expiry). Log in again before reconnecting; the
   * graphql-ws client does not retry on it.
   */
  UNAUTHORIZED: 4401,
  /** graphql-ws' "Internal server error": something failed on our side; the reason carries a request id. */
  INTERNAL_ERROR: 4500,
  /** WebSocket's "Try Again Later": a dependency (the session store) is unreachable for a moment. */
  TRY_AGAIN_LATER: 1013,
} as const;

/** How long clients get to answer our close frame at shutdown before their sockets are cut. */
const CLOSE_GRACE_MILLIS = 1_000;

/** What a socket's `extra` carries besides graphql-ws' own socket and upgrade request. */
type SocketState = Record<PropertyKey, unknown> & {
  /** Set at upgrade, before graphql-ws sees the socket. */
  clientIp?: string;
  /** From connection_init, checked in onConnect. */
  authorization?: string;
};

/** `connection_init` payload: `{ authorization: "Bearer <token>" }`; a bare token is accepted too. */
function authorizationFrom(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  if (typeof value !== 'string' || value === '') return undefined;
  return /^bearer\s/i.test(value) ? value : `Bearer ${value}`;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string, headers: Record<string, string> = {}): void {
  const head = Object.entries({ connection: 'close', 'content-type': 'text/plain', ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${head}\r\n${reason}\n`);
}

/**
 * graphql-ws on the HTTP server's port and path, held to the same rules as HTTP: the
 * operation limits, error masking and logging with a request id, the body size cap,
 * and introspection off in production. Only subscriptions are served (queries and
 * mutations have HTTP, where their limits and status codes live); sockets per client IP
 * and subscriptions per socket are capped; a socket closes when its session ends.
 */
/** The counters a subscription is checked against when it starts. */
const SUBSCRIBE_POLICIES = ['GLOBAL', 'USER', 'IP'] as const;

export function attachWebSocketServer(deps: {
  server: Server;
  schema: GraphQLSchema;
  app: ServerDeps;
  limits: Pick<OperationLimits, 'validationRules' | 'parseOptions'>;
  formatError: ErrorFormatter;
  clientAddress: ClientAddress;
}) {
  const { app, schema, limits, formatError } = deps;
  const { config } = app;
  const log = app.log.child({ component: 'ws' });
  const socketsPerIp = new Map<string, number>();
  const rules = [
    ...specifiedRules,
    ...limits.validationRules,
    ...(config.isProduction ? [NoSchemaIntrospectionCustomRule] : []),
  ];
  // Subscriptions only: no message needs more than the small HTTP body limit.
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: config.http.graphqlMaxBodyBytes });

  deps.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/graphql') return refuseUpgrade(socket, 404, 'Not Found');
    const clientIp = deps.clientAddress.of(request);
    const open = socketsPerIp.get(clientIp) ?? 0;
    if (open >= config.websocket.maxSocketsPerIp) {
      log.warn({ clientIp, open }, 'WebSocket refused: too many sockets from one address');
      return refuseUpgrade(socket, 429, 'Too Many Requests', { 'retry-after': '10' });
    }
    wsServer.handleUpgrade(request, socket, head, (ws) => {
      socketsPerIp.set(clientIp, open + 1);
      ws.once('close', () => {
        const left = (socketsPerIp.get(clientIp) ?? 1) - 1;
        if (left > 0) socketsPerIp.set(clientIp, left);
        else socketsPerIp.delete(clientIp);
      });
      (request as IncomingMessage & { clientIp?: string }).clientIp = clientIp;
      wsServer.emit('connection', ws, request);
    });
  });

  /** Errors as the client sees them, with the operation's request id; unexpected ones logged in full. */
  const present = (errors: readonly GraphQLError[], requestId: string) =>
    errors.map((error) => {
      const formatted = formatError({ ...error.toJSON(), extensions: { ...error.extensions, requestId } }, error);
      if (!isClientSafe(error.toJSON(), error)) {
        log.error(
          { err: error.originalError ?? error, path: error.path, requestId },
          'unexpected error in subscription',
        );
      }
      return formatted;
    });

  const requestIds = new WeakMap<object, Map<string, string>>();
  const requestIdOf = (ctx: object, id: string) => requestIds.get(ctx)?.get(id) ?? randomUUID();

  const handle = useServer<Record<string, unknown> | undefined, SocketState>(
    {
      schema,
      async onConnect(ctx) {
        const extra = ctx.extra;
        extra.clientIp = (extra.request as IncomingMessage & { clientIp?: string }).clientIp ?? 'unknown';
        extra.authorization = authorizationFrom(ctx.connectionParams);
        if (!extra.authorization) return true;
        // As over HTTP: a malformed header, or one far longer than any token, is not looked up.
        const token = bearerToken(extra.authorization);
        let viewer: SignedInViewer | undefined;
        try {
          viewer = token ? await app.sessions.resolve(token) : undefined;
        } catch (error: unknown) {
          // The session store is unreachable for now (Redis, or PostgreSQL refusing connections in
          // rollback mode): a close the client retries later.
          const unavailable = error instanceof OverloadedError ? error : retryableDbError(error);
          if (unavailable) {
            log.warn({ err: error }, 'WebSocket refused while sessions are unavailable');
            extra.socket.close(WS_CLOSE.TRY_AGAIN_LATER, unavailable.message);
            return false;
          }
          // graphql-ws would close with the raw message as the reason: mask it, log the cause.
          const requestId = randomUUID();
          log.error({ err: error, requestId }, 'could not resolve the session of a WebSocket');
          extra.socket.close(WS_CLOSE.INTERNAL_ERROR, `Internal server error (request ${requestId})`);
          return false;
        }
        if (!viewer) {
          extra.socket.close(WS_CLOSE.UNAUTHORIZED, 'Your session has expired or the token is not valid: log in again');
          return false;
        }
        socketViewers.set(extra.socket, viewer);
        return true;
      },

      async onSubscribe(ctx, id, payload) {
        const requestId = randomUUID();
        if (!requestIds.has(ctx)) requestIds.set(ctx, new Map());
        requestIds.get(ctx)?.set(id, requestId);
        const refuse = (message: string, code: string = ErrorCode.BAD_REQUEST) => [
          new GraphQLError(message, { extensions: { code, requestId } }),
        ];

        // ctx.subscriptions already holds this operation.
        if (Object.keys(ctx.subscriptions).length > config.websocket.maxSubscriptionsPerSocket) {
          return refuse(
            `At most ${config.websocket.maxSubscriptionsPerSocket} subscriptions per socket: complete one first.`,
            ErrorCode.RATE_LIMITED,
          );
        }
        // As over HTTP: the variables' shape is bounded before anything walks them.
        for (const [name, value] of [
          ['variables', payload.variables],
          ['extensions', payload.extensions],
        ] as const) {
          const problem = variablesShapeProblem(value);
          if (problem) return refuse(`The operation's ${name} are too large: ${problem}.`);
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query, limits.parseOptions);
        } catch (error: unknown) {
          return error instanceof GraphQLError
            ? [withRequestId(error, requestId)]
            : refuse('The query does not parse.');
        }
        const validationErrors = validate(schema, document, rules);
        if (validationErrors.length > 0) return validationErrors.map((error) => withRequestId(error, requestId));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return refuse('Name the operation to run: the document has several or none.');
        if (operation.operation !== 'subscription') {
          return refuse('Only subscriptions are served over WebSocket; send queries and mutations with POST /graphql.');
        }
        try {
          assertNoNul(document, payload.variables);
        } catch (error: unknown) {
          return [withRequestId(error as GraphQLError, requestId)];
        }

        let contextValue: RequestContext;
        try {
          contextValue = await app.contextFor({
            requestId,
            authorization: ctx.extra.authorization,
            clientIp: ctx.extra.clientIp ?? 'unknown',
          });
        } catch (error: unknown) {
          const refusal = error instanceof AppError ? error : retryableDbError(error);
          if (refusal) return [withRequestId(refusal, requestId)];
          log.error({ err: error, requestId }, 'could not build the subscription context');
          return [
            new GraphQLError('Internal server error', {
              extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId },
            }),
          ];
        }
        // Subscribing counts like a limited field over HTTP (per instance, account and address);
        // the events that follow do not.
        try {
          await contextValue.limits.check(SUBSCRIBE_POLICIES, { field: 'Subscription' });
        } catch (error: unknown) {
          if (error instanceof AppError) return [withRequestId(error, requestId)];
          throw error;
        }
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },

      onNext: (ctx, id, _payload, _args, result) =>
        result.errors ? { ...result, errors: present(result.errors, requestIdOf(ctx, id)) } : undefined,

      onError: (ctx, id, _payload, errors) => {
        log.info(
          { id, requestId: requestIdOf(ctx, id), errors: errors.map((e) => e.message) },
          'subscription rejected',
        );
        return present(errors, requestIdOf(ctx, id));
      },

      onComplete: (ctx, id) => {
        requestIds.get(ctx)?.delete(id);
      },
    },
    wsServer,
  );

  /** The signed-in viewer of each acknowledged socket, for ending it with its session. */
  const socketViewers = new WeakMap<WebSocket, SignedInViewer>();

  const endSocket = (socket: WebSocket) => socket.close(WS_CLOSE.UNAUTHORIZED, 'Session ended: log in again');

  /** The open sockets of each session, for ending them together. */
  const socketsBySession = () => {
    const sessions = new Map<string, { viewer: SignedInViewer; sockets: WebSocket[] }>();
    for (const socket of wsServer.clients) {
      const viewer = socketViewers.get(socket);
      if (!viewer) continue;
      const entry = sessions.get(viewer.tokenHash) ?? { viewer, sockets: [] };
      entry.sockets.push(socket);
      sessions.set(viewer.tokenHash, entry);
    }
    return sessions;
  };

  /**
   * Ends the sockets whose session expired or is gone (ended on another instance), asking the
   * store once per session. A store that cannot answer is no reason to cut clients off.
   */
  const recheckSessions = async () => {
    for (const [tokenHash, { viewer, sockets }] of socketsBySession()) {
      const live = viewer.expiresAt.getTime() > Date.now() && (await app.sessions.isLive(tokenHash).catch(() => true));
      if (!live) sockets.forEach(endSocket);
    }
  };
  const unsubscribe = app.sessions.onEnded((tokenHash) =>
    socketsBySession().get(tokenHash)?.sockets.forEach(endSocket),
  );
  // Expiry and a log-out on another api instance end a socket within this time; a log-out
  // on this instance ends it at once (onEnded above).
  const recheck = setInterval(
    () => void recheckSessions().catch((error: unknown) => log.warn({ err: error }, 'session re-check failed')),
    config.websocket.sessionCheckSeconds * 1000,
  );
  recheck.unref();

  let closing: Promise<void> | undefined;
  return {
    /** Closes every socket (clients reconnect elsewhere) and stops accepting new ones. */
    /** Idempotent: the server's close and Apollo's drain both call it. */
    async close(): Promise<void> {
      clearInterval(recheck);
      unsubscribe();
      closing ??= (async () => {
        // graphql-ws sends 1001 "Going away" and waits for every client's close frame; one
        // that never answers would hold the shutdown, so it is cut off after a grace period.
        const laggards = setTimeout(() => {
          for (const socket of wsServer.clients) socket.terminate();
        }, CLOSE_GRACE_MILLIS);
        try {
          await handle.dispose();
        } finally {
          clearTimeout(laggards);
        }
      })();
      await closing;
    },
  };
}

function withRequestId(error: GraphQLError, requestId: string): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code: error.extensions.code ?? 'GRAPHQL_VALIDATION_FAILED', requestId },
  });
}
