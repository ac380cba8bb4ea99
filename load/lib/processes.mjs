// Processes a run starts for itself, apart from a harness: a free loopback port, a process with
// its output in a log file, and a redis-server of the run's own (its own port, folder and
// persistence settings; SIGKILLed and started again by the fault campaign, one per row in the
// attack campaign). Plain Node, no dependency: the attack campaign's tools are dependency-free.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const running = (child) => child && child.exitCode === null && child.signalCode === null;

/** A port of 127.0.0.1 that was free when asked (the kernel's pick; nothing holds it afterwards). */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `cmd args` with stdout and stderr appended to `logFile`; the child gets `name`,
 * `logFile` and `tail()` (the log's last 3,000 characters), as `waitHttp` expects.
 */
export function startLogged(name, cmd, args, { logFile, cwd, env } = {}) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.name = name;
  child.logFile = logFile;
  child.tail = () => readFileSync(logFile, 'utf8').slice(-3000);
  return child;
}

/** Whether the Redis on 127.0.0.1:`port` answers PING with PONG (not while it loads its AOF). */
function pong(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(String(data).startsWith('+PONG')));
  });
}

/** Per server not yet stopped: what ends it and removes its folder when this process exits. */
const atExit = new Set();
process.on('exit', () => {
  for (const end of atExit) end();
});

/**
 * A redis-server of the run's own on 127.0.0.1:`port`: no RDB snapshots, `appendonly yes`,
 * `noeviction`, then `args` (later options win, e.g. `['--appendfsync', 'always']` or
 * `['--maxmemory', '64mb']`). Its data in `dir`, or in a new temporary folder that `stop()`
 * removes. Its output goes to `logFile` (else nowhere), or `start(name, cmd, args)` starts it
 * (a caller's own process bookkeeping). Nothing starts before `up()`.
 *
 * `up()` starts it and waits for PONG; `kill()` SIGKILLs it (what it acknowledged survives as
 * far as `appendfsync` keeps it; `up()` again reloads the AOF); `stop()` SIGTERMs it. Whatever
 * is still running when the Node process exits (SIGINT, process.exit) is SIGKILLed then.
 */
export function redisServer({ port, dir, args = [], name = 'redis-server', logFile, start, upSeconds = 10 }) {
  const ownDir = !dir;
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), `parley-${name}-`));
  const argv = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--save', ''],
    ...['--appendonly', 'yes', '--maxmemory-policy', 'noeviction'],
    ...args,
  ];
  const spawnServer =
    start ?? ((n, cmd, a) => (logFile ? startLogged(n, cmd, a, { logFile }) : spawn(cmd, a, { stdio: 'ignore' })));
  const server = { port, url: `redis://127.0.0.1:${port}`, dir: dataDir, child: undefined, up, kill, stop };
  const endAtExit = () => {
    if (running(server.child)) server.child.kill('SIGKILL');
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  atExit.add(endAtExit);

  async function up() {
    if (running(server.child)) throw new Error(`redis-server on ${port} is already running`);
    const child = spawnServer(name, 'redis-server', argv);
    server.child = child;
    let spawnError;
    child.once('error', (error) => (spawnError = error)); // no redis-server on the PATH
    const deadline = Date.now() + upSeconds * 1000;
    while (Date.now() < deadline && !spawnError && running(child)) {
      if (await pong(port)) return server;
      await sleep(50);
    }
    const why =
      spawnError?.message ??
      (running(child) ? `no PONG in ${upSeconds} s` : `exited (${child.signalCode ?? child.exitCode})`);
    throw new Error(`redis-server on ${port} did not start: ${why}${child.tail ? `: ${child.tail()}` : ''}`);
  }

  async function end(signal) {
    const child = server.child;
    if (!running(child)) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    // A SIGTERMed redis-server writes its AOF out and exits; one that hangs is killed after 15 s.
    const t = signal === 'SIGKILL' ? undefined : setTimeout(() => running(child) && child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }

  async function kill() {
    await end('SIGKILL');
  }

  async function stop() {
    await end('SIGTERM');
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    atExit.delete(endAtExit);
  }

  return server;
}
