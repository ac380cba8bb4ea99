import { parseEmail } from '../../src/auth/email';
import { chunkText } from '../../src/search/chunker';
import { extractText, extractTitleFromHtml } from '../../src/sources/extract-text';

/**
 * Inputs that once froze a process, each taking time quadratic in its length (a regular
 * expression backtracking, or V8's Intl.Segmenter), so that a few hundred kilobytes from one
 * owner blocked it for seconds to minutes; the comments give sizes and times measured then. A
 * few neighbouring shapes guard the scans that replaced those patterns. Each case is checked
 * for its growth, not its speed: 4 times the input must take well under the 16 times as long
 * that quadratic time would, at sizes small enough to keep the check quick.
 */
const N = 5000;
/** Linear time gives about 4; quadratic about 16. */
const MAX_RATIO = 8;
/** Each measurement repeats the call until it takes at least this long, so timer noise is small. */
const MIN_SAMPLE_MILLIS = 5;
const MAX_ROUNDS = 5;
/** Whole measurements made before a high ratio counts as growth. */
const MAX_ATTEMPTS = 3;
/** Rounds stop early once this much time is spent (a quadratic input is slow at 4n). */
const BUDGET_MILLIS = 3000;

function timeOf(run: () => unknown, repeats: number): number {
  const started = performance.now();
  for (let i = 0; i < repeats; i++) run();
  return performance.now() - started;
}

/** Best-of-rounds time at 4n over best-of-rounds time at n, with the same number of calls. */
function growthRatio(make: (n: number) => string, run: (input: string) => unknown): number {
  const small = make(N);
  const large = make(4 * N);
  const runSmall = () => run(small);
  const runLarge = () => run(large);
  runSmall(); // warm-up: compilation and lazy initialisation are not what is measured
  const repeats = Math.max(1, Math.ceil(MIN_SAMPLE_MILLIS / Math.max(timeOf(runSmall, 1), 0.001)));
  let bestSmall = Infinity;
  let bestLarge = Infinity;
  const started = performance.now();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    bestSmall = Math.min(bestSmall, timeOf(runSmall, repeats));
    bestLarge = Math.min(bestLarge, timeOf(runLarge, repeats));
    if (round >= 1 && performance.now() - started > BUDGET_MILLIS) break;
  }
  return bestLarge / bestSmall;
}

const cases: [string, (n: number) => string, (input: string) => unknown][] = [
  // sign-up, 40,000 dots: 2.2 s
  ['an e-mail of a long run of dots', (n) => `a@${'.'.repeat(n)}@`, parseEmail],
  // an uploaded HTML page, 30,000 repeats: 5.9 s on the api's thread
  ['an HTML title of "<title " runs', (n) => '<title '.repeat(n), extractTitleFromHtml],
  ['an HTML title of "</title " runs', (n) => `<title>${'</title '.repeat(n)}`, extractTitleFromHtml],
  // a TEXT source, 50,000 spaces: 5.3 s
  ['text with a long run of spaces', (n) => `a${' '.repeat(n)}refund`, (text) => extractText(text, 'text')],
  ['text with many blank lines', (n) => `a${' \r\n'.repeat(n)}b`, (text) => extractText(text, 'text')],
  // Markdown, 40,000 repeats each: 2.8 s to 19 s
  ['Markdown of " **a" runs', (n) => ' **a'.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of " ~~a" runs', (n) => ' ~~a'.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of " *a" runs', (n) => ' *a'.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of " _a" runs', (n) => ' _a'.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of "<!--" runs', (n) => '<!--'.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of "[a](" runs', (n) => '[a]('.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of "![" runs', (n) => '!['.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of "<a" runs', (n) => '<a'.repeat(n), (md) => extractText(md, 'markdown')],
  ['Markdown of "<http:" runs', (n) => '<http:'.repeat(n), (md) => extractText(md, 'markdown')],
  ['a Markdown heading with a long gap', (n) => `# a${' '.repeat(n)}x`, (md) => extractText(md, 'markdown')],
  ['Markdown of backtick runs', (n) => '``a'.repeat(n), (md) => extractText(md, 'markdown')],
  // chunking (V8's sentence segmenter), 140 kB of short sentences: 4 s; 560 kB: 50 s
  ['a line of short sentences', (n) => 'Ab cd. '.repeat(n), (text) => chunkText(text)],
  ['many short lines', (n) => 'Ab?\n'.repeat(n), (text) => chunkText(text)],
  ['text with a long run of spaces, chunked', (n) => `a${' '.repeat(n)}refund`, (text) => chunkText(text)],
  ['one long word', (n) => 'x'.repeat(n), (text) => chunkText(text)],
];

describe('time linear in the input', () => {
  it.each(cases)('for %s', (_name, make, run) => {
    // This machine is shared and noisy: a linear case may measure high once, a quadratic one
    // measures high every time. So a high ratio is measured again, and the lowest one counts.
    let ratio = growthRatio(make, run);
    for (let attempt = 1; attempt < MAX_ATTEMPTS && ratio >= MAX_RATIO; attempt++) {
      ratio = Math.min(ratio, growthRatio(make, run));
    }
    expect(ratio).toBeLessThan(MAX_RATIO);
  });
});
