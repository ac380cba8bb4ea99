import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The nearest folder above `from` with a package.json: the repository root both from src/
 * (tsx, jest) and from dist/src/ (the compiled build, which has no package.json of its own),
 * and /app in the container.
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json above ${from}`);
  }
}

/** Where schema/ and the built widget (dist/widget/) are found at run time. */
export const PACKAGE_ROOT = packageRoot(__dirname);
