// Wall-clock growth of the text scanners, n against 4n: a benchmark, not a test.
//
//   npx tsx load/linear-time.mjs            # every case
//   npx tsx load/linear-time.mjs Markdown   # the cases whose name contains "Markdown"
//
// Prints, per case, the best time for n and for 4n and their ratio: linear time gives about 4,
// quadratic about 16. A busy machine moves these numbers, which is why the test
// (test/unit/linear-time.test.ts) counts work instead and this is not part of `make test`.
import { parseEmail } from '../src/auth/email.ts';
import { chunkText } from '../src/search/chunker.ts';
import { extractText, extractTitleFromHtml } from '../src/sources/extract-text.ts';
import { linearTimeCases } from '../test/fixtures/linear-time-cases.ts';

const N = Number(process.env.N ?? 5000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
/** Each sample repeats the call until it takes at least this long, so timer noise is small. */
const MIN_SAMPLE_MILLIS = 5;

const cases = linearTimeCases({ parseEmail, extractText, extractTitleFromHtml, chunkText });

function timeOf(run, repeats) {
  const started = performance.now();
  for (let i = 0; i < repeats; i++) run();
  return performance.now() - started;
}

/** Best-of-rounds milliseconds per call for n and 4n, with the same number of calls each. */
function measure(make, run) {
  const small = make(N);
  const large = make(4 * N);
  const runSmall = () => run(small);
  const runLarge = () => run(large);
  runSmall(); // warm-up: compilation and lazy initialisation are not what is measured
  const repeats = Math.max(1, Math.ceil(MIN_SAMPLE_MILLIS / Math.max(timeOf(runSmall, 1), 0.001)));
  let bestSmall = Infinity;
  let bestLarge = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    bestSmall = Math.min(bestSmall, timeOf(runSmall, repeats) / repeats);
    bestLarge = Math.min(bestLarge, timeOf(runLarge, repeats) / repeats);
  }
  return { small: bestSmall, large: bestLarge };
}

const filter = process.argv[2];
console.log(`n = ${N} repeats, best of ${ROUNDS} rounds; ratio 4n/n: about 4 is linear, about 16 quadratic`);
console.log(['case'.padEnd(42), 'n (ms)'.padStart(10), '4n (ms)'.padStart(10), 'ratio'.padStart(7)].join(' '));
for (const [name, make, run] of cases) {
  if (filter && !name.includes(filter)) continue;
  const { small, large } = measure(make, run);
  console.log(
    [
      name.padEnd(42),
      small.toFixed(3).padStart(10),
      large.toFixed(3).padStart(10),
      (large / small).toFixed(1).padStart(7),
    ].join(' '),
  );
}
