/**
 * Bounds on the shape of a request's `variables` (and `extensions`), checked on the parsed
 * JSON before graphql-js coerces anything: coercion walks every element of a list and every
 * key of an object, so a 1,200,000-element list for a field that takes 100 ids, or 2,000,000
 * nested arrays, cost seconds of the event loop before any limit of the field was looked at.
 * Parley's inputs are shallow and short; these are far above what any of them needs.
 */
export interface VariablesShapeLimits {
  /** Nesting of lists and objects (the variables object itself is depth 1). */
  maxDepth: number;
  /** Elements of any one list. */
  maxListLength: number;
  /** Keys of any one object. */
  maxObjectKeys: number;
  /** Values in all (every list element and object value, nested ones included). */
  maxValues: number;
}

export const VARIABLES_SHAPE_LIMITS: VariablesShapeLimits = {
  maxDepth: 8,
  maxListLength: 1000,
  maxObjectKeys: 100,
  maxValues: 10_000,
};

/**
 * What is wrong with `value`'s shape, or undefined when it is within `limits`. Iterative (a
 * deep value cannot overflow the stack) and stops at the first excess, so its cost is bounded
 * by the limits, not by the input.
 */
export function variablesShapeProblem(
  value: unknown,
  limits: VariablesShapeLimits = VARIABLES_SHAPE_LIMITS,
): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  let values = 0;
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > limits.maxDepth) return `nested deeper than ${limits.maxDepth} levels`;
    let children: unknown[];
    if (Array.isArray(current)) {
      if (current.length > limits.maxListLength) return `a list longer than ${limits.maxListLength} elements`;
      children = current;
    } else {
      // Counted key by key, so a 300,000-key object is refused after 101 of them.
      children = [];
      for (const key in current) {
        if (children.length === limits.maxObjectKeys) return `an object with more than ${limits.maxObjectKeys} keys`;
        children.push((current as Record<string, unknown>)[key]);
      }
    }
    values += children.length;
    if (values > limits.maxValues) return `more than ${limits.maxValues} values in all`;
    for (const child of children) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1 });
    }
  }
  return undefined;
}
