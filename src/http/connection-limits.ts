import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Connections open now from `address` (an address group, as `ClientAddress` names it). */
  openFrom(address: string): number;
  /** Connections closed at once since start because their address had too many open. */
  refused(): number;
}

const REFUSAL_TEXT = 'Too many connections from your address: close some, then retry.\n';
/** What a refused connection reads before it is closed: enough for a client to know why. */
const REFUSAL =
  'HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 10\r\ncontent-type: text/plain\r\n' +
  `content-length: ${Buffer.byteLength(REFUSAL_TEXT)}\r\n\r\n${REFUSAL_TEXT}`;

/**
 * At most `maxPerAddress` open connections per client address, HTTP and WebSocket alike (an
 * upgraded socket stays the connection it was). One client opening thousands of sockets and
 * sending nothing on them used to hold every place of admission control; the kernel accepts
 * the connection, so the cap can only close it at once, with a 503 it may read. Connections
 * from a trusted proxy carry many clients and are not capped here (their requests still are,
 * per forwarded address, by the rate limits). `maxPerAddress` 0 turns it off.
 */
export function limitConnectionsPerAddress(
  server: Server,
  options: { maxPerAddress: number; addressOf: (remoteAddress: string | undefined) => string | undefined },
): ConnectionLimits {
  const open = new Map<string, number>();
  let refused = 0;
  if (options.maxPerAddress > 0) {
    server.on('connection', (socket: Socket) => {
      const address = options.addressOf(socket.remoteAddress);
      if (address === undefined) return;
      const count = open.get(address) ?? 0;
      if (count >= options.maxPerAddress) {
        refused++;
        // Destroyed once written: a client that never closes its side holds nothing.
        socket.end(REFUSAL, () => socket.destroy());
        return;
      }
      open.set(address, count + 1);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left > 0) open.set(address, left);
        else open.delete(address);
      });
    });
  }
  return { openFrom: (address) => open.get(address) ?? 0, refused: () => refused };
}
