// Compiles src/ and worker/ to dist/ (tsconfig.build.json) and copies beside the compiled code
// what it reads at run time: the Lua scripts. `npm run build` runs it, and so do the load
// harnesses that build HEAD apart from the work tree.
//
//   node scripts/compile.mjs [dir]     (default: this repository; dir needs node_modules/)
import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
execFileSync(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
const LUA = join('src', 'platform', 'redis', 'lua');
cpSync(join(dir, LUA), join(dir, 'dist', LUA), { recursive: true });
