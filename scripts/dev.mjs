// `make dev`: the api and the worker side by side, each line of their output behind its name.
//
//   node scripts/dev.mjs [name=file.ts ...]     (default: api=src/main.ts worker=worker/main.ts)
//
// Each process runs in a process group of its own, so Ctrl-C (which the terminal sends to its
// whole foreground group) reaches this runner alone, and the runner passes it on once to each.
// With npm, concurrently and tsx's command line in between, a process got the terminal's SIGINT
// and a forwarded copy 40–120 ms later, took the copy for a second Ctrl-C and exited without
// finishing its clean-up. A second Ctrl-C is still passed on: the processes then exit at once.
// When one process fails, the others are stopped and the runner exits with its code.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const DEFAULT_PROCESSES = ['api=src/main.ts', 'worker=worker/main.ts'];
const COLORS = [36, 35, 33, 32];
/**
 * A signal this soon after the one before is the same keypress delivered again (`npm run dev`
 * forwards the terminal's SIGINT to this runner, which already had it): not passed on.
 */
const SAME_KEYPRESS_MILLIS = 300;

const specs = (process.argv.length > 2 ? process.argv.slice(2) : DEFAULT_PROCESSES).map((spec) => {
  const [name, file] = spec.split('=');
  if (!name || !file) throw new Error(`Expected name=file, got "${spec}"`);
  return { name, file };
});
const width = Math.max(...specs.map(({ name }) => name.length));
const labelOf = (name, index) => {
  const label = `[${name.padEnd(width)}]`;
  return process.stdout.isTTY ? `\x1b[${COLORS[index % COLORS.length]}m${label}\x1b[0m` : label;
};

let stopping = false;
let exitCode = 0;
let lastSignalAt = -Infinity;

const running = specs.map(({ name, file }, index) => {
  const label = labelOf(name, index);
  // node --import tsx rather than the tsx command, which relays signals to a node of its own.
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  createInterface({ input: child.stdout }).on('line', (line) => process.stdout.write(`${label} ${line}\n`));
  createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`${label} ${line}\n`));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      process.stdout.write(`${label} exited ${signal ? `on ${signal}` : `with code ${code}`}\n`);
      if (code !== 0 && exitCode === 0) exitCode = code ?? 1;
      if (!stopping && code !== 0) {
        // One failed on its own: the others have nothing to work with.
        stopping = true;
        stopAll('SIGTERM');
      }
      resolve();
    });
  });
  return { child, exited };
});

function stopAll(signal) {
  for (const { child } of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    const now = performance.now();
    if (now - lastSignalAt < SAME_KEYPRESS_MILLIS) return;
    lastSignalAt = now;
    stopping = true;
    stopAll(signal);
  });
}
// Were the runner itself to end first, its processes would live on in their own groups.
process.on('exit', () => stopAll('SIGTERM'));

await Promise.all(running.map(({ exited }) => exited));
process.exit(exitCode);
