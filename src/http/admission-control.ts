import type { FastifyInstance } from 'fastify';
import { OverloadedError } from '../core/errors';
import { sendAppError } from './error-reply';

/** How long a refused client should wait: one second is about one drain of a full queue. */
const RETRY_AFTER_SECONDS = 1;

export interface AdmissionControl {
  /** Requests being handled now (admitted, not yet answered or abandoned). */
  inFlight(): number;
  /** Requests refused since start. */
  refused(): number;
}

/**
 * Admission control for the API routes (`/graphql`, `/uploads`): at most `maxInFlight`
 * requests in progress in this process; the next one is answered 503 OVERLOADED with
 * `Retry-After` at once. A request is counted once its body has arrived (the `preHandler`
 * stage; an upload's file streams in its handler, after its token and limits are checked):
 * counted from its headers, 4,100 sockets that sent headers and no body held every place,
 * and every other client got 503 for as long as they stayed open. A body that does not come is
 * the headers and request time-outs' and the connection cap's business, not this count's.
 *
 * A process saturated on CPU does not show it in its event-loop delay (each turn is short;
 * the requests queue between turns), so the event-loop check alone let thousands of sends
 * queue for seconds under 3× load; counting them bounds that queue (and the latency of what
 * is admitted) to `maxInFlight` ÷ capacity.
 * Health and metrics routes are never refused: an orchestrator must see the instance.
 * `maxInFlight` 0 turns it off.
 */
export function registerAdmissionControl(fastify: FastifyInstance, maxInFlight: number): AdmissionControl {
  let inFlight = 0;
  let refused = 0;
  if (maxInFlight > 0) {
    fastify.addHook('preHandler', async (request, reply) => {
      const path = request.url;
      if (!path.startsWith('/graphql') && !path.startsWith('/uploads')) return;
      // A WebSocket upgrade never reaches here (graphql-ws owns the socket); CORS preflights are free.
      if (request.method === 'OPTIONS') return;
      if (inFlight >= maxInFlight) {
        refused++;
        return sendAppError(reply, new OverloadedError(RETRY_AFTER_SECONDS), request.id);
      }
      inFlight++;
      // 'close' fires once the answer is written or the connection went away: either way the
      // request no longer holds a place.
      reply.raw.once('close', () => inFlight--);
    });
  }
  return { inFlight: () => inFlight, refused: () => refused };
}
