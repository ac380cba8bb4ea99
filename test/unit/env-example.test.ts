import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_VARIABLES, loadConfig } from '../../src/config/config';

/** `.env.example` as `NAME=value` pairs, comments stripped. */
function readExample(): Record<string, string> {
  const text = readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z0-9_]+=/.test(line))
      .map((line) => {
        const [name, ...value] = line.split('=');
        return [
          name!,
          value
            .join('=')
            .replace(/\s+#.*$/, '')
            .trim(),
        ];
      }),
  );
}

describe('.env.example', () => {
  it('lists every variable the config reads, and nothing else', () => {
    expect(Object.keys(readExample()).sort()).toEqual([...ENV_VARIABLES].sort());
  });

  it('shows the defaults the config applies', () => {
    expect(loadConfig(readExample())).toEqual(loadConfig({}));
  });
});
