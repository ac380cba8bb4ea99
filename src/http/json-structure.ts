/** Bounds on a JSON body's structure, checked on its bytes before it is parsed. */
export interface JsonStructureLimits {
  /** Nesting of arrays and objects (the body's own object is depth 1). */
  maxDepth: number;
  /** Arrays, objects and the commas between elements and members: about the values in all. */
  maxTokens: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

/** Where the string opened at `open` ends: the next quote that an even run of backslashes precedes; -1 if none. */
function closingQuote(body: Buffer, open: number): number {
  let end = body.indexOf(QUOTE, open + 1);
  while (end >= 0) {
    let backslashes = 0;
    for (let j = end - 1; j > open && body[j] === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = body.indexOf(QUOTE, end + 1);
  }
  return -1;
}

/**
 * What is wrong with the structure of a JSON body, or undefined when it is within `limits`,
 * from one pass over its bytes that stops at the first excess. JSON.parse's time grows with
 * the values and the nesting, not the bytes: 4 MB of `[` took it seconds, 300,000 keys one
 * and a half, each blocking the event loop for every client; a body made mostly of one long
 * string (a TEXT source) parses in milliseconds. So the structure is bounded before parsing
 * and the bytes by the body limit. UTF-8 continuation bytes are all 0x80 or above, so no
 * byte of a multi-byte character is taken for a quote or a bracket. Malformed JSON passes
 * through, for the parser to refuse.
 */
export function jsonStructureProblem(body: Buffer, limits: JsonStructureLimits): string | undefined {
  let depth = 0;
  let tokens = 0;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (byte === QUOTE) {
      const end = closingQuote(body, i);
      if (end < 0) return undefined;
      i = end;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > limits.maxDepth) return `nested deeper than ${limits.maxDepth} levels`;
      if (++tokens > limits.maxTokens) return `more than ${limits.maxTokens} values`;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    } else if (byte === COMMA) {
      if (++tokens > limits.maxTokens) return `more than ${limits.maxTokens} values`;
    }
  }
  return undefined;
}
