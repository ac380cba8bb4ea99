import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { seedDemo } from '../../src/cli/seeds/demo';
import { createLogger } from '../../src/core/logger';
import { startTestApp, type TestApp } from '../helpers/test-app';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
/** The lines of `text` between a line starting with `start` and one starting with `end`. */
const between = (text: string, start: string, end: string) => {
  const lines = text.split('\n');
  const from = lines.findIndex((line) => line.startsWith(start));
  const to = lines.findIndex((line, i) => i > from && line.startsWith(end));
  expect([from, to].every((index) => index >= 0)).toBe(true);
  return lines.slice(from + 1, to).join('\n');
};

/**
 * The README's example queries and subscription run as they are (`make try`, scripts/try.sh),
 * against the real api over the demo data, and stay the README's own text.
 */
describe('make try: the docs/examples.md examples', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
    await seedDemo(app.deps.db, createLogger({ name: 'seed', level: 'silent', pretty: false }));
  });
  afterAll(async () => {
    await app?.close();
  });

  it('are the docs/examples.md text, word for word', () => {
    const readme = read('docs/examples.md');
    expect(readme).toContain(`\`\`\`sh\n${between(read('scripts/try.sh'), "# --- the README's", '# --- end')}\n\`\`\``);
    expect(readme).toContain(
      `\`\`\`js\n${between(read('scripts/try-subscription.mjs'), "// --- the README's", '// --- end')}\n\`\`\``,
    );
  });

  it('run against the api: log in, list, search, add and upload sources, chat, follow the status', async () => {
    const { stdout } = await promisify(execFile)('bash', ['scripts/try.sh'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PARLEY_URL: app.url },
    });
    const answers = stdout.split('\n').filter((line) => line !== '');
    // Every answer is JSON without errors: the queries, the upload and the subscription's events.
    for (const answer of answers) expect(JSON.parse(answer)).not.toHaveProperty('errors');
    expect(stdout).toContain('"me":{"email":"demo@parley.dev"}');
    expect(stdout).toMatch(/"createSource":\{"id":"[^"]+","status":"PENDING"\}/);
    expect(stdout).toMatch(/\{"source":\{"id":"[^"]+"/);
    expect(stdout).toMatch(/"reply":\{"content":"[^"]+"\}/);
    expect(stdout).toMatch(/"messages":\[\{"role":"USER","content":"When are you open on Saturday\?"/);
    expect(
      answers.filter((answer) => answer.includes('"status":"PERSISTED"') && answer.includes('messageStatusChanged')),
    ).toHaveLength(2);
  });
});
