import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testBufferShards, testClusterNodes } from './redis';

export const ROOT = join(__dirname, '..', '..');
/** The compiled entry points, as the container runs them: `node dist/...`, no tsx, npm or shell between. */
export const API = join('dist', 'src', 'main.js');
export const WORKER = join('dist', 'worker', 'main.js');
/** What `npm run build` compiles: dist/ older than any of it is stale. */
const BUILD_INPUTS = [
  'src',
  'worker',
  'widget',
  'scripts/compile.mjs',
  'scripts/build-widget.mjs',
  'tsconfig.json',
  'tsconfig.build.json',
];

/** Modification times of every file under `path`. */
async function fileTimes(path: string): Promise<number[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [];
  if (!info.isDirectory()) return [info.mtimeMs];
  const entries = await readdir(path);
  return (await Promise.all(entries.map((entry) => fileTimes(join(path, entry))))).flat();
}

/**
 * `make test` builds before jest starts; a run of jest alone (or a fresh clone) builds here
 * whenever dist/ is missing or older than a source file, so the test never runs stale code.
 */
export async function ensureBuilt(): Promise<void> {
  const outputs = await fileTimes(join(ROOT, 'dist'));
  const inputs = (await Promise.all(BUILD_INPUTS.map((path) => fileTimes(join(ROOT, path))))).flat();
  if (outputs.length > 0 && Math.min(...outputs) > Math.max(...inputs)) return;
  try {
    await promisify(execFile)('npm', ['run', '--silent', 'build'], { cwd: ROOT });
  } catch (error: unknown) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

export interface Started {
  child: ChildProcess;
  output(): string;
  /** The JSON log lines written so far. */
  logs(): Record<string, unknown>[];
  /** The first log line with this message, or undefined. */
  logged(msg: string | RegExp): Record<string, unknown> | undefined;
}

/** An api or worker process as an operator runs it in production: configured only by its environment. */
export function start(entry: string, env: Record<string, string>): Started {
  let output = '';
  const child = spawn(process.execPath, [entry], {
    cwd: ROOT,
    // Only what the test sets, so nothing from the developer's shell changes the outcome.
    // With the defaults otherwise (the Redis layer on), under this file's own key prefix, on
    // the suite's cluster when it runs on one (npm run test:cluster).
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      REDIS_CLUSTER_NODES: testClusterNodes(env),
      BUFFER_SHARDS: testBufferShards(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const logs = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    child,
    output: () => output,
    logs,
    logged: (msg) =>
      logs().find(
        (line) => typeof line.msg === 'string' && (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg)),
      ),
  };
}

/** How the process ended: exit code, or the signal that killed it (Apollo's re-sent SIGTERM did, before). */
export async function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}

/** The messages of the log in the order written, from the first of `from` on. */
export function messagesFrom(started: Started, from: string): unknown[] {
  const messages = started.logs().map((line) => line.msg);
  return messages.slice(messages.indexOf(from));
}
