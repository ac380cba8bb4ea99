// Processes a run starts for itself, apart from a harness: a free loopback port, a process with
// its output in a log file, and a redis-server of the run's own (its own port, folder and
// persistence settings; SIGKILLed and started again by the fault campaign, one per row in the
// attack campaign). Plain Node, no dependency: the attack campaign's tools are dependency-free.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * `n` distinct ports of 127.0.0.1 free when asked (a cluster needs a client and a bus port per
 * node: the default bus port, the client port + 10,000, may be taken or beyond 65,535).
 */
export async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** One RESP reply of `buf` from `at`: [value, next offset], or undefined while incomplete. */
function parseReply(buf, at) {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, eol);
  if (type === '+') return [line, eol + 2];
  if (type === '-') return [new Error(line), eol + 2];
  if (type === ':') return [Number(line), eol + 2];
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return [null, eol + 2];
    if (buf.length < eol + 2 + length + 2) return undefined;
    return [buf.toString('utf8', eol + 2, eol + 2 + length), eol + 2 + length + 2];
  }
  if (type === '*') {
    const length = Number(line);
    if (length < 0) return [null, eol + 2];
    const items = [];
    let next = eol + 2;
    for (let i = 0; i < length; i++) {
      const item = parseReply(buf, next);
      if (!item) return undefined;
      items.push(item[0]);
      next = item[1];
    }
    return [items, next];
  }
  throw new Error(`unexpected RESP type '${type}'`);
}

/**
 * One command to the Redis on 127.0.0.1:`port` on a connection of its own (no dependency):
 * its reply (a Redis error reply as an Error value); rejects when the node does not answer
 * within `timeoutMillis`.
 */
export function redisCommand(port, args, timeoutMillis = 1000) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const done = (error, value) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.setTimeout(timeoutMillis, () => done(new Error(`127.0.0.1:${port}: no answer in ${timeoutMillis} ms`)));
    socket.on('error', (error) => done(error));
    socket.on('connect', () =>
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`),
    );
    socket.on('data', (data) => {
      buf = Buffer.concat([buf, data]);
      try {
        const reply = parseReply(buf, 0);
        if (reply) done(undefined, reply[0]);
      } catch (error) {
        done(error);
      }
    });
  });
}

/**
 * The nodes of a CLUSTER NODES reply: id, port, flags, role ('master' or 'replica'), the
 * master's id for a replica, whether the node is seen failing, and the slot ranges it serves.
 */
export function parseClusterNodes(text) {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, masterId, , , , linkState, ...slots] = line.trim().split(' ');
      const flagList = flags.split(',');
      return {
        id,
        port: Number(address.split('@')[0].split(':').at(-1)),
        flags: flagList,
        myself: flagList.includes('myself'),
        role: flagList.includes('master') ? 'master' : 'replica',
        masterId: masterId === '-' ? undefined : masterId,
        failing: flagList.includes('fail') || flagList.includes('fail?') || linkState !== 'connected',
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => s.split('-').map(Number))
          .map(([from, to = from]) => [from, to]),
      };
    });
}

/**
 * A Redis Cluster of the run's own: `masters` masters and one replica each, every node a
 * `redisServer` (so SIGKILLed and started again as one: `kill()`, `up()`) on its own port of
 * `ports` and cluster bus port of `busPorts` (2 × masters of each, e.g. from `freePorts`), with
 * its own folder under one temporary folder (its nodes.conf and AOF: a restarted node keeps its
 * id and rejoins; a killed master whose replica was promoted comes back as that one's replica).
 * Each node: `--cluster-enabled yes --cluster-node-timeout <nodeTimeoutMillis>`, AOF, `args`
 * (e.g. `['--appendfsync', 'always']`); its output in `<logDir>/redis-<port>.log`.
 *
 * `up()` starts every node, forms the cluster (`redis-cli --cluster create … --cluster-replicas
 * 1`) the first time, and waits until `healthy()`. `stop()` SIGTERMs every node and removes the
 * folder; whatever is still running when the Node process exits (SIGINT, process.exit) is
 * SIGKILLed then and the folder removed.
 */
export function redisCluster({
  ports,
  busPorts,
  masters = 3,
  nodeTimeoutMillis = 2000,
  args = [],
  name = 'redis-cluster',
  logDir,
  upSeconds = 60,
}) {
  if (ports.length !== masters * 2 || busPorts.length !== ports.length)
    throw new Error(`a cluster of ${masters} masters and ${masters} replicas needs ${masters * 2} ports and bus ports`);
  const baseDir = mkdtempSync(join(tmpdir(), `parley-${name}-`));
  const nodes = ports.map((port, i) => {
    const dir = join(baseDir, String(port));
    mkdirSync(dir);
    const node = redisServer({
      port,
      dir,
      name: `${name}-${port}`,
      logFile: logDir ? join(logDir, `redis-${port}.log`) : undefined,
      args: [
        ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
        ...['--cluster-port', String(busPorts[i]), '--cluster-node-timeout', String(nodeTimeoutMillis)],
        ...args,
      ],
    });
    return node;
  });
  const removeDir = () => rmSync(baseDir, { recursive: true, force: true });
  atExit.add(removeDir);
  let formed = false;
  const cluster = {
    ports,
    nodes,
    seeds: ports.map((port) => `127.0.0.1:${port}`).join(','),
    dir: baseDir,
    node: (port) => nodes.find((node) => node.port === port),
    running: (node) => running(node.child),
    up,
    stop,
    view,
    masterOfKey,
    healthy,
    waitUntil,
  };

  /** The first running node's CLUSTER NODES, or `from`'s. */
  async function view(from) {
    const asked = from ? [from] : nodes.filter((node) => running(node.child));
    let lastError;
    for (const node of asked) {
      try {
        const text = await redisCommand(node.port, ['CLUSTER', 'NODES']);
        if (text instanceof Error) throw text;
        return parseClusterNodes(text);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError ?? new Error('no node of the cluster is running');
  }

  /** The slot of `key` (CLUSTER KEYSLOT) and the master serving it (CLUSTER NODES), as a running node sees it. */
  async function masterOfKey(key) {
    const node = nodes.find((n) => running(n.child));
    const slot = await redisCommand(node.port, ['CLUSTER', 'KEYSLOT', key]);
    if (slot instanceof Error) throw slot;
    const master = (await view(node)).find(
      (n) => n.role === 'master' && !n.failing && n.slots.some(([from, to]) => from <= slot && slot <= to),
    );
    return { slot, master, server: master && cluster.node(master.port) };
  }

  /**
   * Whether every running node says `cluster_state:ok`, sees every other running node as
   * connected and no node failing but the ones not running, agrees on the masters, each
   * master serving slots, and every running replica has its link to its master up. Returns
   * a reason when not.
   */
  async function healthy() {
    const live = nodes.filter((node) => running(node.child));
    const livePorts = new Set(live.map((node) => node.port));
    let mastersSeen;
    for (const node of live) {
      let info;
      let seen;
      try {
        info = await redisCommand(node.port, ['CLUSTER', 'INFO']);
        if (info instanceof Error) return `${node.port}: ${info.message}`;
        if (!/^cluster_state:ok\r?$/m.test(info)) return `${node.port}: ${info.match(/^cluster_state:\w+/m)?.[0]}`;
        seen = await view(node);
      } catch (error) {
        return `${node.port}: ${error.message}`;
      }
      const wrong = seen.find((n) => livePorts.has(n.port) === n.failing);
      if (wrong) return `${node.port} sees ${wrong.port} ${wrong.failing ? 'failing' : 'up'}`;
      const masterPorts = seen
        .filter((n) => n.role === 'master' && n.slots.length && !n.failing)
        .map((n) => n.port)
        .sort()
        .join(',');
      if (mastersSeen !== undefined && masterPorts !== mastersSeen)
        return `${node.port} sees masters ${masterPorts}, another ${mastersSeen}`;
      mastersSeen = masterPorts;
      const me = seen.find((n) => n.myself);
      if (me.role === 'replica') {
        const replication = await redisCommand(node.port, ['INFO', 'replication']).catch((error) => error);
        if (!/^master_link_status:up\r?$/m.test(String(replication))) return `${node.port}: replica link not up`;
      }
    }
    return mastersSeen?.split(',').length === masters ? true : `${mastersSeen ?? 'no'} masters`;
  }

  /** Polls `healthy()` every 100 ms until true; throws with the last reason after `seconds`. */
  async function waitUntil(seconds = upSeconds) {
    const deadline = Date.now() + seconds * 1000;
    let why;
    while (Date.now() < deadline) {
      why = await healthy();
      if (why === true) return;
      await sleep(100);
    }
    throw new Error(`the cluster was not healthy within ${seconds} s: ${why}`);
  }

  async function up() {
    await Promise.all(nodes.filter((node) => !running(node.child)).map((node) => node.up()));
    if (!formed) {
      const output = await new Promise((resolve, reject) => {
        const cli = spawn(
          'redis-cli',
          [
            '--cluster',
            'create',
            ...ports.map((port) => `127.0.0.1:${port}`),
            '--cluster-replicas',
            '1',
            '--cluster-yes',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        cli.stdout.on('data', (d) => (out += d));
        cli.stderr.on('data', (d) => (out += d));
        cli.on('error', reject);
        cli.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli --cluster create: ${out}`))));
      });
      formed = true;
      if (!/All 16384 slots covered/.test(output)) throw new Error(`redis-cli --cluster create: ${output}`);
    }
    await waitUntil();
    return cluster;
  }

  async function stop() {
    await Promise.all(nodes.map((node) => node.stop()));
    removeDir();
    atExit.delete(removeDir);
  }

  return cluster;
}

/** User + system CPU a process has used so far, ms (`/proc/<pid>/stat`, which counts 1/100 s). */
export function processCpuMillis(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A process's resident memory now, bytes (`VmRSS` of `/proc/<pid>/status`). */
export function residentBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}
