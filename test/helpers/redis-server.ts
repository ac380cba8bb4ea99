import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a started server may take to answer PING before start-up is given up. */
const START_TIMEOUT_MILLIS = 10_000;
/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
const STOP_TIMEOUT_MILLIS = 5_000;
/** The end of the server's output kept for error messages. */
const OUTPUT_KEPT_CHARS = 4_000;

export interface StartRedisServerOptions {
  /** The port to listen on; a free one by default (bound on 127.0.0.1 with port 0, then released). */
  port?: number;
  /** AOF persistence (`--appendonly yes`), so what was written survives `kill()` and `restart()`; false by default. */
  appendonly?: boolean;
  /** More command-line settings, after the defaults, e.g. `['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']`. */
  args?: string[];
}

export interface TestRedisServer {
  /** `redis://127.0.0.1:<port>`: loopback by address, never by name. */
  url: string;
  port: number;
  /** SIGTERM, then waits for the process to exit (SIGKILL after 5 s). Nothing happens if it is not running. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no shutdown work, connections cut. Waits for the exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (the AOF, if any, is loaded); resolves once PING answers. */
  restart(): Promise<void>;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Every server this process started, so that none outlives the test file (see `stopRedisServers`). */
const servers = new Set<{ dir: string; current(): Running | undefined }>();

/** A port no one listens on at this moment, from the kernel. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * The process id of the Redis at `port` once it answers PING with PONG (not -LOADING), else
 * undefined. A raw RESP exchange: no client, no timers left behind. The id tells our server
 * from another one that already held the port.
 */
function readyServerPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (pid: number | undefined) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('connect', () => socket.write('PING\r\nINFO server\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const firstLine = reply.indexOf('\r\n');
      if (firstLine < 0) return;
      if (!reply.startsWith('+PONG')) return done(undefined);
      // INFO's answer is one bulk string: `$<length>\r\n<text>\r\n`.
      const info = /^\$(\d+)\r\n/.exec(reply.slice(firstLine + 2));
      if (!info) return;
      const start = firstLine + 2 + info[0].length;
      if (reply.length < start + Number(info[1])) return;
      const pid = /process_id:(\d+)/.exec(reply.slice(start, start + Number(info[1])));
      done(pid ? Number(pid[1]) : undefined);
    });
  });
}

/**
 * A `redis-server` of the test's own on a port of its own (never the machine's shared
 * Redis), with its data directory in a fresh temporary folder. Call `stopRedisServers()` in
 * `afterAll`: it kills whatever is still running and deletes the folders, whatever the tests
 * did; a process exit kills leftovers too.
 */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<TestRedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-'));
  let running: Running | undefined;
  const entry = { dir, current: () => running };
  servers.add(entry);

  async function start(): Promise<void> {
    if (running) throw new Error(`redis-server on port ${port} is already running`);
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        // With AOF, a write is in the file (the OS's page cache) before its reply is sent, so a
        // SIGKILL loses nothing a client saw acknowledged: what a restart loads is what was there.
        '--appendonly',
        options.appendonly ? 'yes' : 'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_CHARS);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exitedEarly: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitedEarly = `exited (code ${code}, signal ${signal})`;
        if (running?.child === child) running = undefined;
        resolve();
      });
      // spawn failed (no redis-server on PATH): no 'exit' follows.
      child.once('error', (error) => {
        exitedEarly = `could not start: ${error.message}`;
        if (running?.child === child) running = undefined;
        resolve();
      });
    });
    running = { child, exited };
    const deadline = Date.now() + START_TIMEOUT_MILLIS;
    while ((await readyServerPid(port)) !== child.pid) {
      if (exitedEarly || Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(
          `redis-server on 127.0.0.1:${port} ${exitedEarly ?? `did not answer PING within ${START_TIMEOUT_MILLIS} ms`}:\n${output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function signal(name: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const current = running;
    if (!current) return;
    current.child.kill(name);
    const timer = setTimeout(() => current.child.kill('SIGKILL'), STOP_TIMEOUT_MILLIS);
    try {
      await current.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  try {
    await start();
  } catch (error: unknown) {
    servers.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    restart: start,
  };
}

/** Kills every server `startRedisServer` started in this process and deletes their folders; for `afterAll`. */
export async function stopRedisServers(): Promise<void> {
  const all = [...servers];
  servers.clear();
  await Promise.all(
    all.map(async ({ dir, current }) => {
      const running = current();
      if (running) {
        running.child.kill('SIGKILL');
        await running.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }),
  );
}

// A worker that exits without running afterAll (a crash, a forced exit) still leaves no server behind.
process.once('exit', () => {
  for (const { dir, current } of servers) {
    current()?.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
