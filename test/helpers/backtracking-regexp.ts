import { RegExpParser, type AST } from '@eslint-community/regexpp';

/**
 * A backtracking regular-expression matcher that counts its steps, for tests that must show
 * a regular expression's work without timing it (V8 does not expose its own backtracking).
 *
 * It runs JavaScript's semantics the way a backtracking engine such as V8's irregexp does:
 * each start position in turn, alternatives left to right, greedy quantifiers longest first,
 * lazy ones shortest first, and every choice point revisited on failure. A pattern that
 * backtracks over the same characters again and again, or restarts a long scan from every
 * position, costs here what it costs there, up to constant factors: steps grow with n^2
 * where V8's time does. V8 has optimisations this matcher lacks (it skips ahead to a literal
 * prefix, for one): where the two differ, this one counts more.
 *
 * Single characters and character classes are tested by V8 itself (a sticky regular
 * expression made from the atom's own source), so their meaning (case folding, `\s`,
 * Unicode properties) is V8's. `exec` returns what `RegExp.prototype.exec` would; callers
 * compare the two to be sure the count belongs to the same match.
 */

/** The pattern uses syntax this matcher does not run (it then counts nothing). */
export class UnsupportedRegExpError extends Error {
  override readonly name = 'UnsupportedRegExpError';
}

/** More work than the caller's budget: the work is abandoned, so a quadratic case fails fast. */
export class BudgetExceededError extends Error {
  override readonly name = 'BudgetExceededError';
}

type Instruction =
  | { op: 'atom'; sticky: RegExp; backward: boolean; memo: Int8Array }
  | { op: 'split'; first: number; second: number }
  | { op: 'jump'; to: number }
  | { op: 'save'; slot: number }
  | { op: 'clear'; slots: number[] }
  | { op: 'mark'; register: number }
  | { op: 'progress'; register: number }
  | { op: 'edge'; kind: 'start' | 'end'; multiline: boolean }
  | { op: 'word'; negate: boolean }
  | { op: 'look'; program: Instruction[]; negate: boolean }
  | { op: 'backref'; groups: number[]; ignoreCase: boolean; backward: boolean }
  | { op: 'match' };

export interface CountedMatch {
  index: number;
  /** The whole match and each group, `undefined` where a group did not take part. */
  groups: (string | undefined)[];
}

export interface CountingRegExp {
  /** What `RegExp.prototype.exec` would return from `lastIndex` (the caller manages it), and the steps taken. */
  exec(input: string, lastIndex: number, budget: number): { match: CountedMatch | null; steps: number };
}

/** The `exec` of V8, kept before any test replaces `RegExp.prototype.exec`. */
const nativeExec = RegExp.prototype.exec;

const parser = new RegExpParser({ ecmaVersion: 2024 });

/** Compiles `regexp` for counting; throws UnsupportedRegExpError for syntax it does not run. */
export function compileCounting(regexp: RegExp): CountingRegExp {
  const { flags } = regexp;
  const unicode = flags.includes('u') || flags.includes('v');
  const pattern = parser.parsePattern(regexp.source, 0, regexp.source.length, {
    unicode: flags.includes('u'),
    unicodeSets: flags.includes('v'),
  });
  const atomFlags = [...flags].filter((flag) => 'isuv'.includes(flag)).join('');
  const ignoreCase = flags.includes('i');
  const multiline = flags.includes('m');

  const groupNumbers = new Map<AST.CapturingGroup, number>();
  let groupCount = 0;
  let registerCount = 0;
  (function number(node: AST.Node): void {
    if (node.type === 'CapturingGroup') groupNumbers.set(node, ++groupCount);
    for (const child of childrenOf(node)) number(child);
  })(pattern);

  function slotsInside(node: AST.Node, into: number[] = []): number[] {
    if (node.type === 'CapturingGroup') {
      const group = groupNumbers.get(node)!;
      into.push(group * 2, group * 2 + 1);
    }
    for (const child of childrenOf(node)) slotsInside(child, into);
    return into;
  }

  function compile(alternatives: AST.Alternative[], backward: boolean): Instruction[] {
    const program: Instruction[] = [];
    const emit = (instruction: Instruction) => program.push(instruction) - 1;

    function disjunction(alts: AST.Alternative[]): void {
      const jumpsToEnd: number[] = [];
      alts.forEach((alternative, i) => {
        const split = i < alts.length - 1 ? emit({ op: 'split', first: 0, second: 0 }) : -1;
        if (split !== -1) program[split] = { op: 'split', first: program.length, second: 0 };
        const elements = backward ? [...alternative.elements].reverse() : alternative.elements;
        for (const element of elements) node(element);
        if (split !== -1) {
          jumpsToEnd.push(emit({ op: 'jump', to: 0 }));
          (program[split] as { second: number }).second = program.length;
        }
      });
      for (const jump of jumpsToEnd) program[jump] = { op: 'jump', to: program.length };
    }

    function atom(raw: string): void {
      emit({ op: 'atom', sticky: new RegExp(raw, `${atomFlags}y`), backward, memo: new Int8Array(0x10000) });
    }

    function quantifier(q: AST.Quantifier): void {
      for (let i = 0; i < q.min; i++) node(q.element);
      const clears = slotsInside(q.element);
      // After the required copies, an iteration that matches nothing fails (as the spec says).
      const optional = (loop: boolean) => {
        const register = registerCount++;
        const split = emit({ op: 'split', first: 0, second: 0 });
        const body = program.length;
        emit({ op: 'mark', register });
        if (clears.length > 0) emit({ op: 'clear', slots: clears });
        node(q.element);
        emit({ op: 'progress', register });
        if (loop) emit({ op: 'jump', to: split });
        const after = program.length;
        program[split] = q.greedy
          ? { op: 'split', first: body, second: after }
          : { op: 'split', first: after, second: body };
      };
      if (q.max === Infinity) optional(true);
      else for (let i = q.min; i < q.max; i++) optional(false);
    }

    function node(element: AST.Element): void {
      switch (element.type) {
        case 'Character':
        case 'CharacterSet':
        case 'CharacterClass':
        case 'ExpressionCharacterClass':
          if (element.type === 'CharacterClass' && element.unicodeSets && element.elements.some(hasStrings)) {
            throw new UnsupportedRegExpError(`class strings in ${regexp}`);
          }
          return atom(element.raw);
        case 'Group':
          if (element.modifiers) throw new UnsupportedRegExpError(`modifiers in ${regexp}`);
          return disjunction(element.alternatives);
        case 'CapturingGroup': {
          const group = groupNumbers.get(element)!;
          emit({ op: 'save', slot: group * 2 + (backward ? 1 : 0) });
          disjunction(element.alternatives);
          emit({ op: 'save', slot: group * 2 + (backward ? 0 : 1) });
          return;
        }
        case 'Quantifier':
          return quantifier(element);
        case 'Backreference': {
          const resolved = Array.isArray(element.resolved) ? element.resolved : [element.resolved];
          const groups = resolved.map((group) => groupNumbers.get(group)!);
          emit({ op: 'backref', groups, ignoreCase, backward });
          return;
        }
        case 'Assertion':
          switch (element.kind) {
            case 'start':
            case 'end':
              emit({ op: 'edge', kind: element.kind, multiline });
              return;
            case 'word':
              emit({ op: 'word', negate: element.negate });
              return;
            case 'lookahead':
            case 'lookbehind': {
              const program = compile(element.alternatives, element.kind === 'lookbehind');
              program.push({ op: 'match' });
              emit({ op: 'look', program, negate: element.negate });
              return;
            }
          }
      }
    }

    disjunction(alternatives);
    return program;
  }

  const program = compile(pattern.alternatives, false);
  program.push({ op: 'match' });
  const slotCount = (groupCount + 1) * 2;

  function isWordAt(input: string, at: number): boolean {
    if (at < 0 || at >= input.length) return false;
    const code = input.charCodeAt(at);
    return (
      (code >= 0x30 && code <= 0x39) ||
      (code >= 0x41 && code <= 0x5a) ||
      (code >= 0x61 && code <= 0x7a) ||
      code === 0x5f
    );
  }

  function isLineTerminator(code: number): boolean {
    return code === 0x0a || code === 0x0d || code === 0x2028 || code === 0x2029;
  }

  /** Whether the atom matches the one code unit at `at` (not a surrogate), asked of V8 once per code unit. */
  function matchesUnit(instruction: { sticky: RegExp; memo: Int8Array }, input: string, at: number): boolean {
    const code = input.charCodeAt(at);
    let known = instruction.memo[code]!;
    if (known === 0) {
      instruction.sticky.lastIndex = at;
      const found = nativeExec.call(instruction.sticky, input);
      known = found && found[0]!.length === 1 ? 1 : -1;
      instruction.memo[code] = known;
    }
    return known === 1;
  }

  function isSurrogate(input: string, at: number): boolean {
    return (input.charCodeAt(at) & 0xf800) === 0xd800;
  }

  /** Where the atom ends (forward) or starts (backward) when it matches at `at`, or -1. */
  function matchAtom(
    instruction: { sticky: RegExp; backward: boolean; memo: Int8Array },
    input: string,
    at: number,
  ): number {
    const { sticky, backward } = instruction;
    const unit = backward ? at - 1 : at;
    if (unit < 0 || unit >= input.length) return -1;
    // One code unit that is not half of a pair: the common case, answered from the memo.
    if (!unicode || !isSurrogate(input, unit))
      return matchesUnit(instruction, input, unit) ? (backward ? unit : at + 1) : -1;
    if (!backward) {
      sticky.lastIndex = at;
      const found = nativeExec.call(sticky, input);
      return found ? at + found[0]!.length : -1;
    }
    for (const width of [2, 1]) {
      if (at - width < 0) continue;
      sticky.lastIndex = at - width;
      const found = nativeExec.call(sticky, input);
      if (found && found[0]!.length === width) return at - width;
    }
    return -1;
  }

  interface Counter {
    steps: number;
    budget: number;
  }

  /** Runs `code` from `start`; returns where the match ends (captures filled in), or -1. */
  function run(code: Instruction[], input: string, start: number, captures: number[], counter: Counter): number {
    const registers = new Array<number>(registerCount).fill(-1);
    // A choice point (pc, position), or an undo record for a capture slot or a register.
    const stack: number[] = [];
    const CHOICE = 0;
    const UNDO_SLOT = 1;
    const UNDO_REGISTER = 2;
    let pc = 0;
    let at = start;

    function backtrack(): boolean {
      while (stack.length > 0) {
        const kind = stack[stack.length - 3]!;
        const a = stack[stack.length - 2]!;
        const b = stack[stack.length - 1]!;
        stack.length -= 3;
        if (kind === CHOICE) {
          pc = a;
          at = b;
          return true;
        }
        if (kind === UNDO_SLOT) captures[a] = b;
        else registers[a] = b;
      }
      return false;
    }

    for (;;) {
      if (++counter.steps > counter.budget) {
        throw new BudgetExceededError(`more than ${counter.budget} steps matching ${regexp}`);
      }
      const instruction = code[pc]!;
      let ok = true;
      switch (instruction.op) {
        case 'match':
          return at;
        case 'atom': {
          const next = matchAtom(instruction, input, at);
          if (next === -1) ok = false;
          else {
            at = next;
            pc++;
          }
          break;
        }
        case 'split':
          stack.push(CHOICE, instruction.second, at);
          pc = instruction.first;
          break;
        case 'jump':
          pc = instruction.to;
          break;
        case 'save':
          stack.push(UNDO_SLOT, instruction.slot, captures[instruction.slot]!);
          captures[instruction.slot] = at;
          pc++;
          break;
        case 'clear':
          for (const slot of instruction.slots) {
            stack.push(UNDO_SLOT, slot, captures[slot]!);
            captures[slot] = -1;
          }
          pc++;
          break;
        case 'mark':
          stack.push(UNDO_REGISTER, instruction.register, registers[instruction.register]!);
          registers[instruction.register] = at;
          pc++;
          break;
        case 'progress':
          ok = registers[instruction.register] !== at;
          pc++;
          break;
        case 'edge': {
          const { kind } = instruction;
          if (kind === 'start') {
            ok = at === 0 || (instruction.multiline && isLineTerminator(input.charCodeAt(at - 1)));
          } else {
            ok = at === input.length || (instruction.multiline && isLineTerminator(input.charCodeAt(at)));
          }
          pc++;
          break;
        }
        case 'word':
          ok = (isWordAt(input, at - 1) !== isWordAt(input, at)) !== instruction.negate;
          pc++;
          break;
        case 'look': {
          const inner = captures.slice();
          const found = run(instruction.program, input, at, inner, counter) !== -1;
          ok = found !== instruction.negate;
          // A positive lookaround keeps what its groups captured.
          if (ok && found) {
            inner.forEach((value, slot) => {
              if (captures[slot] !== value) {
                stack.push(UNDO_SLOT, slot, captures[slot]!);
                captures[slot] = value;
              }
            });
          }
          pc++;
          break;
        }
        case 'backref': {
          const group = instruction.groups.find((g) => captures[g * 2]! !== -1 && captures[g * 2 + 1]! !== -1);
          const text = group === undefined ? '' : input.slice(captures[group * 2], captures[group * 2 + 1]);
          const from = instruction.backward ? at - text.length : at;
          const here = from < 0 ? undefined : input.slice(from, from + text.length);
          counter.steps += text.length;
          const same =
            here !== undefined &&
            here.length === text.length &&
            (instruction.ignoreCase ? here.toLowerCase() === text.toLowerCase() : here === text);
          if (!same) ok = false;
          else {
            at = instruction.backward ? from : from + text.length;
            pc++;
          }
          break;
        }
      }
      if (!ok && !backtrack()) return -1;
    }
  }

  const sticky = flags.includes('y');
  const global = flags.includes('g');
  return {
    exec(input, lastIndex, budget) {
      const counter: Counter = { steps: 0, budget };
      let start = global || sticky ? lastIndex : 0;
      while (start <= input.length) {
        const captures = new Array<number>(slotCount).fill(-1);
        captures[0] = start;
        const end = run(program, input, start, captures, counter);
        if (end !== -1) {
          captures[1] = end;
          const groups: (string | undefined)[] = [];
          for (let group = 0; group <= groupCount; group++) {
            const from = captures[group * 2]!;
            const to = captures[group * 2 + 1]!;
            groups.push(from === -1 || to === -1 ? undefined : input.slice(from, to));
          }
          return { match: { index: start, groups }, steps: counter.steps };
        }
        if (sticky) break;
        const code = input.charCodeAt(start);
        const pair = unicode && code >= 0xd800 && code <= 0xdbff && (input.charCodeAt(start + 1) & 0xfc00) === 0xdc00;
        start += pair ? 2 : 1;
      }
      return { match: null, steps: counter.steps };
    },
  };
}

function childrenOf(node: AST.Node): AST.Node[] {
  switch (node.type) {
    case 'Pattern':
    case 'Group':
    case 'CapturingGroup':
      return node.alternatives;
    case 'Alternative':
      return node.elements;
    case 'Quantifier':
      return [node.element];
    case 'Assertion':
      return node.kind === 'lookahead' || node.kind === 'lookbehind' ? node.alternatives : [];
    default:
      return [];
  }
}

function hasStrings(element: AST.Node): boolean {
  return element.type === 'ClassStringDisjunction' || childrenOf(element).some(hasStrings);
}
