import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { AppDeps } from '../app-deps';
import { createContext } from '../request-context';
import { formatError } from '../graphql/format-error';

/** `connection_init` payload: `{ authorization: "Bearer <token>" }`; a bare token is accepted too. */
function authorizationFrom(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  if (typeof value !== 'string' || value === '') return undefined;
  return /^bearer\s/i.test(value) ? value : `Bearer ${value}`;
}

/**
 * graphql-ws on the HTTP server's port and path. Each operation gets a fresh context
 * (and loaders), resolved from the token, so a session ended by logOut stops new
 * subscriptions on an open socket.
 */
export function attachWebSocketServer(deps: { server: Server; schema: GraphQLSchema; app: AppDeps }) {
  const wsServer = new WebSocketServer({ server: deps.server, path: '/graphql' });
  const log = deps.app.log.child({ component: 'ws' });
  const handle = useServer(
    {
      schema: deps.schema,
      context: (ctx) =>
        createContext(deps.app, {
          requestId: randomUUID(),
          authorization: authorizationFrom(ctx.connectionParams),
        }),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) }
          : undefined,
      onError: (_ctx, id, _payload, errors) => {
        log.warn({ id, errors: errors.map((e) => e.message) }, 'subscription request rejected');
      },
    },
    wsServer,
  );
  return {
    /** Closes every socket (clients reconnect elsewhere) and stops accepting new ones. */
    async close(): Promise<void> {
      await handle.dispose();
    },
  };
}
