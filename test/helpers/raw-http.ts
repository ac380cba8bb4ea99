import { connect, type Socket } from 'node:net';

/** A raw TCP connection to the app, from a chosen loopback address (127.0.0.0/8 is all loopback on Linux). */
export interface RawConnection {
  socket: Socket;
  /** Everything the server has sent so far. */
  received(): string;
  /** Resolves once the server has sent something matching `pattern`. */
  receives(pattern: RegExp): Promise<string>;
  /** Resolves with everything received once the connection has closed (from either side). */
  closed: Promise<string>;
}

/** Opens a connection to `url`'s port from `localAddress`; resolves once it is connected. */
export async function openRaw(url: string, localAddress = '127.0.0.1'): Promise<RawConnection> {
  const { port } = new URL(url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress });
  let data = '';
  const waiters: { pattern: RegExp; resolve: (text: string) => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    for (const waiter of waiters.splice(0)) {
      if (waiter.pattern.test(data)) waiter.resolve(data);
      else waiters.push(waiter);
    }
  });
  // A reset by the server is a close too, for these tests.
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    received: () => data,
    receives: (pattern) =>
      pattern.test(data) ? Promise.resolve(data) : new Promise((resolve) => waiters.push({ pattern, resolve })),
    closed,
  };
}
