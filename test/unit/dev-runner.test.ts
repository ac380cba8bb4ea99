import { spawn } from 'node:child_process';
import { join } from 'node:path';

// scripts/dev.mjs (make dev) with stand-in processes: a Ctrl-C, which a terminal sends to its
// whole foreground process group, must reach each process exactly once.
const ROOT = join(__dirname, '..', '..');
const CHILD = 'test/fixtures/dev-child.mjs';

function startRunner(...processes: string[]) {
  // A group of its own, as a terminal's foreground job has.
  const runner = spawn(process.execPath, ['scripts/dev.mjs', ...processes], { cwd: ROOT, detached: true });
  let output = '';
  const seen = new Set<() => void>();
  runner.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of seen) check();
  });
  runner.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => runner.on('exit', (code) => resolve(code)));
  /** Resolves once the output matches `pattern` `times` times. */
  const printed = (pattern: RegExp, times = 1) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if ((output.match(new RegExp(pattern, 'g')) ?? []).length >= times) {
          seen.delete(check);
          resolve();
        }
      };
      seen.add(check);
      check();
    });
  return { runner, exited, printed, output: () => output };
}

describe('make dev (scripts/dev.mjs)', () => {
  it('passes one Ctrl-C to each process once, and exits 0 when they stop cleanly', async () => {
    const dev = startRunner(`api=${CHILD}`, `worker=${CHILD}`);
    await dev.printed(/\] ready/, 2);
    process.kill(-dev.runner.pid!, 'SIGINT');
    expect(await dev.exited).toBe(0);
    expect(dev.output()).toContain('[api   ] signals: SIGINT\n');
    expect(dev.output()).toContain('[worker] signals: SIGINT\n');
  });

  it('stops the others when one process fails, and exits with its code', async () => {
    const dev = startRunner(`ok=${CHILD}`, 'bad=test/fixtures/dev-child-fails.mjs');
    expect(await dev.exited).toBe(3);
    expect(dev.output()).toContain('[bad] exited with code 3');
    expect(dev.output()).toMatch(/\[ok \] (signals: SIGTERM|exited on SIGTERM)/);
  });
});
