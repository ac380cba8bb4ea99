import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/**
 * Outside production, fills in from a `.env` file (by default in the working directory) what
 * the environment leaves unset: a developer's own settings, never above the real environment.
 * A production process takes its environment from its supervisor alone. Returns the names it
 * filled in.
 */
export function loadDotEnv(env: NodeJS.ProcessEnv = process.env, path = '.env'): string[] {
  if (env.NODE_ENV === 'production') return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const filled: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    filled.push(name);
  }
  return filled;
}
