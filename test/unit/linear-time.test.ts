import { linearTimeCases } from '../fixtures/linear-time-cases';
import { startWorkCounter, type Work, type WorkCounter } from '../helpers/work-count';

/**
 * Inputs that once froze a process, each taking time quadratic in its length (a regular
 * expression backtracking, or V8's Intl.Segmenter), so that a few hundred kilobytes from one
 * owner blocked it for seconds to minutes (test/fixtures/linear-time-cases.ts).
 *
 * Each case counts the work done for n and for 4n repeats (test/helpers/work-count.ts: the
 * JavaScript of src/ that runs, what native string and regular-expression primitives scan, and
 * Intl.Segmenter's steps), never the time, which a busy machine makes fail by chance. The
 * counts are exact and the same on every run. Linear work a*n + b passes
 * count(4n) <= 4 * count(n) + slack; any n^2 term fails it at these sizes.
 *
 * The slack is the work of one constant-size input of the same shape: chunking reads text in
 * windows of 2,000 characters, and where the last window ends moves with n, so up to a window
 * or two of work can land on either side. A quadratic count overshoots it many times over.
 *
 * The wall-clock comparison is a benchmark: `npx tsx load/linear-time.mjs`.
 */
const N = 5000;
/** Characters in the input whose work is the slack: two of chunkText's segmenter windows. */
const SLACK_CHARS = 4000;

type Modules = {
  email: typeof import('../../src/auth/email');
  chunker: typeof import('../../src/search/chunker');
  extract: typeof import('../../src/sources/extract-text');
};

let counter: WorkCounter;
let modules: Modules;

beforeAll(() => {
  // Block counts exist only for code compiled after counting starts, so the modules are loaded now.
  counter = startWorkCounter();
  modules = {
    email: jest.requireActual<Modules['email']>('../../src/auth/email'),
    chunker: jest.requireActual<Modules['chunker']>('../../src/search/chunker'),
    extract: jest.requireActual<Modules['extract']>('../../src/sources/extract-text'),
  };
});

afterAll(() => counter?.stop());

// The modules load in beforeAll: each case calls through to them when it runs.
const cases = linearTimeCases({
  parseEmail: (input) => modules.email.parseEmail(input),
  extractText: (input, format) => modules.extract.extractText(input, format),
  extractTitleFromHtml: (input) => modules.extract.extractTitleFromHtml(input),
  chunkText: (input) => modules.chunker.chunkText(input),
});

function workFor(make: (n: number) => string, run: (input: string) => unknown, n: number): Work {
  const input = make(n);
  return counter.count(() => run(input), input.length);
}

const total = (work: Work) => work.js + work.scanned + work.segmented;

describe('work linear in the input', () => {
  it.each(cases)('for %s', (_name, make, run) => {
    const repeatLength = make(2).length - make(1).length;
    const slack = workFor(make, run, Math.ceil(SLACK_CHARS / repeatLength));
    const small = workFor(make, run, N);
    const large = workFor(make, run, 4 * N);

    // The counts see the input: every case reads all of it at least once.
    expect(total(large) - total(small)).toBeGreaterThanOrEqual(3 * N * repeatLength);
    // Each kind of work on its own, so that a failure names the kind that grew.
    const bound = (kind: keyof Work) => 4 * small[kind] + slack[kind];
    expect(large).toEqual({
      js: Math.min(large.js, bound('js')),
      scanned: Math.min(large.scanned, bound('scanned')),
      segmented: Math.min(large.segmented, bound('segmented')),
    });
  });
});
