import { createClient, type Client } from 'graphql-ws';
import { backoffMillis, retryDelayMillis, sleep } from './retry';
import type { StatusEvent } from './types';

const SUBSCRIPTION =
  'subscription($c:ID!){messageStatusChanged(conversationId:$c){messageId conversationId status error}}';

/** graphql-ws' "Unauthorized" close: the token is unknown or has expired. */
const CLOSE_UNAUTHORIZED = 4401;

/**
 * Subscriptions refused in a row before giving up. Statuses are a nicety (the chat works
 * without them), and a refusal that keeps coming back is not worth a socket per visitor.
 */
const MAX_REFUSALS = 8;

export interface StatusStreamHandlers {
  onEvent(event: StatusEvent): void;
  /** True while the socket is down and being opened again. */
  onReconnecting(reconnecting: boolean): void;
  /** The token was refused: the visitor's session is over. */
  onUnauthorized(): void;
  /** The conversation cannot be read any more (gone, or not this visitor's). */
  onGone(): void;
}

interface GraphQLErrorLike {
  extensions?: { code?: string; retryAfter?: number };
}

function describe(error: unknown): { code?: string | number; retryAfter?: number } {
  if (Array.isArray(error)) {
    const first = error[0] as GraphQLErrorLike | undefined;
    return { code: first?.extensions?.code, retryAfter: first?.extensions?.retryAfter };
  }
  if (error && typeof error === 'object' && 'code' in error) return { code: (error as { code: number }).code };
  return {};
}

/**
 * `messageStatusChanged` over graphql-ws for one conversation at a time. graphql-ws re-opens
 * a dropped socket (with back-off) and subscribes again, and the server starts every
 * subscription with a snapshot, so events missed while away are caught up. A subscription
 * the server refuses is retried here, after its `retryAfter` when it gives one.
 */
export function createStatusStream(url: string, handlers: StatusStreamHandlers) {
  let client: Client | undefined;
  let unsubscribe: (() => void) | undefined;
  // Bumped by every start and stop: callbacks of an older subscription then do nothing.
  let generation = 0;

  function stop(): void {
    generation++;
    unsubscribe?.();
    void client?.dispose();
    client = unsubscribe = undefined;
    handlers.onReconnecting(false);
  }

  function start(conversationId: string, token: string): void {
    stop();
    const mine = generation;
    const live = () => mine === generation;
    let refusals = 0;

    const socket = createClient({
      url,
      connectionParams: { authorization: `Bearer ${token}` },
      // Lazy (the default): the socket opens with the subscription and closes with it; eager
      // mode would also report errors through console.error, noise on the host page.
      lazy: true,
      retryAttempts: Infinity,
      // A socket that cannot open reports an error event rather than a close: retry both.
      // Fatal closes (4401 Unauthorized, 4400 Bad request…) still end the subscription.
      shouldRetry: () => true,
      retryWait: (retries) => sleep(backoffMillis(retries)),
      on: {
        closed: () => live() && handlers.onReconnecting(true),
        connected: () => live() && handlers.onReconnecting(false),
      },
    });
    client = socket;

    const recover = async (error: unknown) => {
      const { code, retryAfter } = describe(error);
      if (code === CLOSE_UNAUTHORIZED || code === 'UNAUTHENTICATED') return handlers.onUnauthorized();
      if (code === 'NOT_FOUND' || code === 'FORBIDDEN') return handlers.onGone();
      if (++refusals > MAX_REFUSALS) return stop();
      handlers.onReconnecting(true);
      await sleep(retryDelayMillis(retryAfter, refusals - 1));
      subscribe();
    };

    const subscribe = () => {
      if (!live()) return;
      unsubscribe = socket.subscribe<{ messageStatusChanged: StatusEvent }>(
        { query: SUBSCRIPTION, variables: { c: conversationId } },
        {
          next: (result) => {
            const event = result.data?.messageStatusChanged;
            if (!live() || !event) return;
            refusals = 0;
            // A throw here would reach graphql-ws, which closes the socket over it.
            try {
              handlers.onEvent(event);
            } catch {
              // One status not shown; the next snapshot brings it again.
            }
          },
          error: (error) => void (live() && recover(error)),
          // The server ended it (a restart, a drain): catch up with a new one.
          complete: () => void (live() && recover(undefined)),
        },
      );
    };
    subscribe();
  }

  return { start, stop };
}

export type StatusStream = ReturnType<typeof createStatusStream>;
