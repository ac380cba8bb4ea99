import { jsonStructureProblem } from '../../src/http/json-structure';
import { VARIABLES_SHAPE_LIMITS, variablesShapeProblem } from '../../src/graphql/variables-shape';

const structure = (text: string) => jsonStructureProblem(Buffer.from(text), { maxDepth: 4, maxTokens: 10 });

describe('the JSON structure of a body, on its bytes', () => {
  it('bounds nesting and values, and ignores brackets and commas inside strings', () => {
    expect(structure('{"a":[1,2,3]}')).toBeUndefined();
    expect(structure('[[[[[]]]]]')).toMatch(/deeper than 4/);
    expect(structure(`[${Array(12).fill(1).join(',')}]`)).toMatch(/more than 10 values/);
    expect(structure(JSON.stringify({ a: '[[[[[[,,,,,,,,,,,,,{{{{' }))).toBeUndefined();
    // Escaped quotes do not end a string; an escaped backslash before a quote does.
    expect(structure(JSON.stringify({ a: 'x\\"[[[[[[', b: 'y\\\\' }))).toBeUndefined();
    expect(structure('["é [[[[[[[ ü"]')).toBeUndefined();
    // Malformed input is the parser's to refuse.
    expect(structure('{"a": "unterminated [[[[[[')).toBeUndefined();
  });

  it('stops at the first excess: work bounded by the limits, not the input', () => {
    const deep = Buffer.from('['.repeat(2_000_000));
    let reads = 0;
    const counting = new Proxy(deep, {
      get(target, property) {
        if (typeof property === 'string' && /^\d+$/.test(property)) reads++;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    expect(jsonStructureProblem(counting, { maxDepth: 4, maxTokens: 10 })).toMatch(/deeper/);
    expect(reads).toBe(5);
  });
});

describe('the shape of variables, before coercion', () => {
  it('takes what Parley inputs look like', () => {
    expect(variablesShapeProblem(undefined)).toBeUndefined();
    expect(
      variablesShapeProblem({ input: { botId: 'b', text: 'x'.repeat(1_000_000), tags: ['a', 'b'] } }),
    ).toBeUndefined();
    expect(variablesShapeProblem({ ids: Array(1000).fill('x') })).toBeUndefined();
  });

  it('refuses long lists, wide objects, deep nesting and too many values', () => {
    expect(variablesShapeProblem({ ids: Array(1001).fill('x') })).toMatch(/list longer than 1000/);
    const wide = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i]));
    expect(variablesShapeProblem({ wide })).toMatch(/more than 100 keys/);
    let deep: unknown = 'leaf';
    for (let i = 0; i < VARIABLES_SHAPE_LIMITS.maxDepth; i++) deep = [deep];
    expect(variablesShapeProblem({ deep })).toMatch(/deeper than 8/);
    const many = { lists: Array.from({ length: 11 }, () => Array(1000).fill(0)) };
    expect(variablesShapeProblem(many)).toMatch(/more than 10000 values/);
  });

  it('reads no more keys of a huge object than the limit, and never recurses', () => {
    let reads = 0;
    const huge = new Proxy(Object.fromEntries(Array.from({ length: 300_000 }, (_, i) => [`k${i}`, i])), {
      get(target, property, receiver) {
        reads++;
        return Reflect.get(target, property, receiver);
      },
    });
    expect(variablesShapeProblem({ huge })).toMatch(/more than 100 keys/);
    expect(reads).toBeLessThanOrEqual(VARIABLES_SHAPE_LIMITS.maxObjectKeys);
    let deep: unknown = [];
    for (let i = 0; i < 2_000_000; i++) deep = [deep];
    expect(variablesShapeProblem(deep)).toMatch(/deeper/);
  });
});
