import { Session } from 'node:inspector';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BudgetExceededError,
  compileCounting,
  UnsupportedRegExpError,
  type CountedMatch,
  type CountingRegExp,
} from './backtracking-regexp';

/**
 * Counts the work a synchronous call does, without a clock: exact, and the same on every run.
 * Three kinds of work are counted:
 *
 * - `js`: the JavaScript of src/ that ran. V8's block coverage counts how many times each block
 *   executed; each character of source counts once per execution of the innermost block
 *   around it (V8 leaves out a block whose count equals its parent's; weighting characters
 *   makes the sum the same either way). A loop inside a loop shows as n^2 even when it calls
 *   nothing native.
 * - `scanned`: what native string primitives may examine or copy (`indexOf` from where it
 *   starts to where it stops, `slice` and `trim` the length of their string, and so on), plus
 *   the steps of every regular-expression match, replayed in a backtracking matcher that
 *   counts them (test/helpers/backtracking-regexp.ts; V8 does not expose its own) and checked
 *   to find the same match as V8. A scan that resumes too early, or a pattern that backtracks
 *   over the same characters again and again, shows as n^2.
 * - `segmented`: Intl.Segmenter's steps, each charged the length of the whole string it
 *   segments: in the V8 of Node 20 every step costs that much (src/search/chunker.ts), so
 *   segmenting a long paragraph in one go shows as n^2.
 *
 * Block counts exist only for functions compiled after counting starts: load the modules to
 * count after `startWorkCounter()` (with `jest.requireActual`). Nothing else may take V8's
 * precise coverage meanwhile (`jest --coverage --coverageProvider=v8` would). Each budget
 * below abandons a call that has already done far more than linear work, so that a quadratic
 * case fails in a second instead of running for minutes.
 */
export interface Work {
  js: number;
  scanned: number;
  segmented: number;
}

export interface WorkCounter {
  /** Counts `run`'s work; `inputLength` sizes the budgets below. */
  count(run: () => unknown, inputLength: number): Work;
  stop(): void;
}

/** Regular-expression steps per input character before a call is abandoned; linear patterns take a handful. */
const REGEXP_STEPS_PER_CHAR = 200;

/**
 * Segmentation may charge this much per input character before it is abandoned. Read in
 * windows, each step is charged at most a window's length (2,000) and there is about one step
 * per character; one pass over a long paragraph charges its whole length per step.
 */
const SEGMENTED_PER_CHAR = 4000;

/** Inputs longer than this must have every regular expression counted, not estimated. */
const COUNTED_REGEXP_MIN_LENGTH = 256;

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}

interface ScriptCoverage {
  url: string;
  functions: { ranges: CoverageRange[] }[];
}

const SRC_DIRECTORY = path.resolve(__dirname, '../../src') + path.sep;
const SRC_URL = pathToFileURL(SRC_DIRECTORY).href;

/** The code under test: the project's src/, not the tests or node_modules. */
function isCodeUnderTest(url: string): boolean {
  return url.startsWith(SRC_DIRECTORY) || url.startsWith(SRC_URL);
}

function executedSource(scripts: ScriptCoverage[]): { total: number; blockRanges: number } {
  let total = 0;
  let blockRanges = 0;
  for (const script of scripts.filter((candidate) => isCodeUnderTest(candidate.url))) {
    const ranges = script.functions.flatMap((fn) => {
      blockRanges += fn.ranges.length - 1;
      return fn.ranges;
    });
    // Outer ranges first, so that inner ones paint over them.
    ranges.sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
    const counts = new Float64Array(Math.max(0, ...ranges.map((range) => range.endOffset)));
    for (const range of ranges) counts.fill(range.count, range.startOffset, range.endOffset);
    for (const count of counts) total += count;
  }
  return { total, blockRanges };
}

/** Where a search from `from` that found `found` (-1: nothing) stopped looking. */
function searched(length: number, from: number, found: number, needleLength: number): number {
  return found === -1 ? Math.max(0, length - from) : found - from + needleLength;
}

function sameMatch(counted: CountedMatch | null, match: RegExpExecArray | null): boolean {
  if (counted === null || match === null) return counted === match;
  return (
    counted.index === match.index &&
    counted.groups.length === match.length &&
    counted.groups.every((group, i) => group === match[i])
  );
}

/** Starts counting: precise coverage on, string, RegExp and Intl.Segmenter primitives replaced. */
export function startWorkCounter(): WorkCounter {
  const session = new Session();
  session.connect();
  function post<T = unknown>(method: string, params?: object): T {
    let result: unknown;
    let failure: unknown;
    // A session in the same thread answers before post returns.
    session.post(method, params, (error, answer) => {
      failure = error;
      result = answer;
    });
    if (failure) throw failure;
    return result as T;
  }
  post('Profiler.enable');
  post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });

  let counting = false;
  let scanned = 0;
  let segmented = 0;
  let regexpBudget = 0;
  let segmentedBudget = 0;
  const restores: (() => void)[] = [];

  function replace(target: object, name: PropertyKey, value: (...args: any[]) => unknown): void {
    const original = Object.getOwnPropertyDescriptor(target, name)!;
    Object.defineProperty(target, name, { ...original, value });
    restores.push(() => Object.defineProperty(target, name, original));
  }

  /**
   * Charges `cost(self, a, b, result)` for each call of a string method while counting. Every
   * method replaced takes at most two arguments, passed on as they came.
   */
  function charge(name: string, cost: (self: string, a: any, b: any, result: any) => number): void {
    const original = (String.prototype as any)[name] as (this: string, ...args: unknown[]) => unknown;
    replace(String.prototype, name, function (this: string, ...args: unknown[]) {
      const result = original.apply(this, args);
      if (counting) scanned += cost(String(this), args[0], args[1], result) + 1;
      return result;
    });
  }

  const from = (value: unknown, fallback: number) => (value === undefined ? fallback : Number(value));
  charge('indexOf', (self, needle, start, found) =>
    searched(self.length, from(start, 0), found, String(needle).length),
  );
  charge('includes', (self, needle, start) => self.length - from(start, 0) + String(needle).length);
  charge('lastIndexOf', (self, needle, start, found) => {
    const end = Math.min(from(start, self.length), self.length);
    return found === -1 ? end : end - found + String(needle).length;
  });
  for (const name of ['startsWith', 'endsWith']) charge(name, (_self, needle) => String(needle).length);
  for (const name of ['charAt', 'charCodeAt', 'codePointAt', 'at']) charge(name, () => 1);
  for (const name of ['slice', 'substring', 'substr', 'repeat', 'padStart', 'padEnd', 'concat']) {
    charge(name, (_self, _a, _b, result) => String(result).length);
  }
  for (const name of ['trim', 'trimStart', 'trimEnd', 'toLowerCase', 'toUpperCase', 'normalize']) {
    charge(name, (self) => self.length);
  }
  // With a regular expression these call RegExp.prototype.exec, which counts below.
  for (const name of ['split', 'replace', 'replaceAll']) {
    charge(name, (self, pattern) => (pattern instanceof RegExp ? 0 : self.length));
  }

  // Replacing exec takes V8 off its fast paths: test, replace, split, match and search on a
  // regular expression all call it, once per match (split once per position, sticky).
  const nativeExec = RegExp.prototype.exec;
  const compiled = new Map<string, CountingRegExp | UnsupportedRegExpError>();
  replace(RegExp.prototype, 'exec', function (this: RegExp, input: unknown) {
    const text = String(input);
    const lastIndex = this.lastIndex;
    const match = nativeExec.call(this, text);
    if (!counting) return match;
    // What the matcher itself does with strings is not the code under test's work.
    counting = false;
    try {
      scanned += regexpSteps(this, text, lastIndex, match);
    } finally {
      counting = true;
    }
    return match;
  });

  function counterFor(regexp: RegExp): CountingRegExp | UnsupportedRegExpError {
    const key = `/${regexp.source}/${regexp.flags}`;
    let counter = compiled.get(key);
    if (counter === undefined) {
      try {
        counter = compileCounting(regexp);
      } catch (error) {
        if (!(error instanceof UnsupportedRegExpError)) throw error;
        counter = error;
      }
      compiled.set(key, counter);
    }
    return counter;
  }

  function regexpSteps(regexp: RegExp, text: string, lastIndex: number, match: RegExpExecArray | null): number {
    const counter = counterFor(regexp);
    if (counter instanceof UnsupportedRegExpError) {
      // Short inputs (the 4 KB a title is cut to, say) are bounded whatever the pattern does.
      if (text.length > COUNTED_REGEXP_MIN_LENGTH) throw counter;
      return text.length + 1;
    }
    const counted = counter.exec(text, regexp.global || regexp.sticky ? lastIndex : 0, regexpBudget);
    if (!sameMatch(counted.match, match)) {
      const seen = JSON.stringify([counted.match, match && { index: match.index, groups: [...match] }]);
      throw new Error(`the counting matcher disagrees with V8 on ${regexp}: ${seen}`);
    }
    regexpBudget -= counted.steps;
    return counted.steps;
  }

  // In Node 20's V8 each step of a segment iteration costs the length of the whole string.
  const segmentsPrototype = Object.getPrototypeOf(new Intl.Segmenter().segment('')) as object;
  const iteratorPrototype = Object.getPrototypeOf(new Intl.Segmenter().segment('')[Symbol.iterator]()) as object;
  const segmentedLength = new WeakMap<object, number>();
  const segment = Intl.Segmenter.prototype.segment;
  replace(Intl.Segmenter.prototype, 'segment', function (this: Intl.Segmenter, input: string) {
    const segments = segment.call(this, input);
    segmentedLength.set(segments, String(input).length);
    return segments;
  });
  const iterate = (segmentsPrototype as Record<symbol, (this: object) => object>)[Symbol.iterator]!;
  replace(segmentsPrototype, Symbol.iterator, function (this: object) {
    const iterator = iterate.call(this);
    segmentedLength.set(iterator, segmentedLength.get(this) ?? 0);
    return iterator;
  });
  const step = (iteratorPrototype as { next: (this: object) => unknown }).next;
  replace(iteratorPrototype, 'next', function (this: object) {
    if (counting) {
      segmented += (segmentedLength.get(this) ?? 0) + 1;
      if (segmented > segmentedBudget) {
        throw new BudgetExceededError(`Intl.Segmenter steps charged more than ${segmentedBudget} characters`);
      }
    }
    return step.call(this);
  });

  return {
    count(run, inputLength) {
      post('Profiler.takePreciseCoverage'); // resets the block counts
      scanned = 0;
      segmented = 0;
      regexpBudget = REGEXP_STEPS_PER_CHAR * (inputLength + 1);
      segmentedBudget = SEGMENTED_PER_CHAR * (inputLength + 1);
      counting = true;
      try {
        run();
      } finally {
        counting = false;
      }
      const { result } = post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
      const js = executedSource(result);
      // Without block ranges a loop would count as one execution of its function.
      if (js.total > 0 && js.blockRanges === 0) {
        throw new Error('V8 reported no block counts: were the modules imported before the counter started?');
      }
      return { js: js.total, scanned, segmented };
    },
    stop() {
      for (const restore of restores.reverse()) restore();
      post('Profiler.stopPreciseCoverage');
      post('Profiler.disable');
      session.disconnect();
    },
  };
}
