import { compileCounting, BudgetExceededError } from '../helpers/backtracking-regexp';

/** Every match from `regexp` over `input` as exec reports it, and the counted steps of all of them. */
function allMatches(regexp: RegExp, input: string) {
  const counting = compileCounting(regexp);
  const native = new RegExp(regexp.source, regexp.flags);
  const seen: { native: unknown; counted: unknown }[] = [];
  let steps = 0;
  for (let lastIndex = 0; lastIndex <= input.length;) {
    native.lastIndex = lastIndex;
    const expected = native.exec(input);
    const counted = counting.exec(input, lastIndex, Infinity);
    steps += counted.steps;
    seen.push({
      native: expected && { index: expected.index, groups: [...expected] },
      counted: counted.match,
    });
    if (!expected || !(regexp.global || regexp.sticky)) break;
    lastIndex = native.lastIndex === expected.index ? native.lastIndex + 1 : native.lastIndex;
  }
  return { seen, steps };
}

const agreeing: [RegExp, string][] = [
  [/\s+/g, 'a  b\t\tc '],
  [/\r\n?|\n/y, 'a\r\nb\rc\nd'],
  [/^\s{0,3}(?:```|~~~)/, '   ```js'],
  [/^\s{0,3}\[(?!\^)[^\]]+\]:\s*\S/, '  [ref]: http://x'],
  [/^\s{0,3}\[(?!\^)[^\]]+\]:\s*\S/, '[^note]: text'],
  [/\\([\\`*_{}[\]()#+\-.!>~|])/g, 'a\\*b\\_c\\\\d'],
  [/(^|[^\w\\])(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\2(?!\w)/g, 'x **bold** and __under__ but not__this__ ~~gone~~'],
  [/(^|[^\w\\*])([*_])(?=[^\s*])(.+?)(?<=[^\s*])\2(?![\w*])/g, '*em* and _this_ not snake_case_word'],
  [/<title(?:\s[^>]*)?>([\s\S]*?)<\/title\s*>/i, '<html><TITLE lang=en>A\nB</title ></html>'],
  [/(a*)*b/, 'aaab'],
  [/(?:(a)|b)+/, 'ab'],
  [/(?<=(\d+)(\d+))$/, '1053'],
  [/(\w+)\s\1/i, 'Hello hello'],
  [/\bfoo\B/g, 'foobar foo foox'],
  [/^b$/gm, 'a\nb\nc'],
  [/./su, '\u{1F600}x'],
  [/(?<year>\d{4})-\k<year>/, '2024-2024'],
];

describe('the counting matcher', () => {
  it.each(agreeing)('matches what V8 matches for %s', (regexp, input) => {
    for (const { native, counted } of allMatches(regexp, input).seen) expect(counted).toEqual(native);
  });

  it('counts a pattern that restarts a long scan at every position as quadratic', () => {
    const steps = (n: number) => allMatches(/<!--.*?-->/g, '<!--'.repeat(n)).steps;
    expect(steps(400)).toBeGreaterThan(10 * steps(100));
  });

  it('counts nested quantifiers that can share characters as quadratic', () => {
    const steps = (n: number) => allMatches(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, `a@${'.'.repeat(n)}@`).steps;
    expect(steps(400)).toBeGreaterThan(10 * steps(100));
  });

  it('counts a scan that moves on after each match as linear', () => {
    const steps = (n: number) => allMatches(/\s+/g, 'a  '.repeat(n)).steps;
    expect(steps(400)).toBeLessThanOrEqual(4 * steps(100));
  });

  it('gives up past its budget', () => {
    const counting = compileCounting(/<!--.*?-->/);
    expect(() => counting.exec('<!--'.repeat(1000), 0, 10_000)).toThrow(BudgetExceededError);
  });
});
