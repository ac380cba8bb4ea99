/** Turns texts into fixed-length vectors for pgvector similarity search. */
export interface Embedder {
  /** Length of every vector returned by `embed`. */
  readonly dimension: number;
  /** One vector per input text, in the same order. */
  embed(texts: string[]): Promise<number[][]>;
}

export interface LocalEmbedderOptions {
  /** Vector length; an integer from 8 to 4096. Must match the `vector(n)` column. */
  dimension: number;
}

const MIN_DIMENSION = 8;
const MAX_DIMENSION = 4096;

/** Trigrams are weaker evidence than whole words; they only bridge spelling variants. */
const TRIGRAM_WEIGHT = 0.5;

// \p{M} keeps combining marks inside words so scripts such as Devanagari are not cut apart.
const WORD_PATTERN = /[\p{L}\p{M}\p{N}]+/gu;

// Function words and question words carry no topic: without them every English text, and
// every "how do I …?" question, looks alike. Kept short so that topic words are never dropped.
// prettier-ignore
const STOP_WORDS = new Set([
  'a', 'about', 'after', 'all', 'also', 'am', 'an', 'and', 'any', 'are', 'as', 'at', 'be',
  'been', 'before', 'being', 'both', 'but', 'by', 'can', 'could', 'did', 'do', 'does', 'each',
  'for', 'from', 'had', 'has', 'have', 'he', 'her', 'here', 'him', 'his', 'how', 'i', 'if',
  'in', 'into', 'is', 'it', 'its', 'just', 'me', 'more', 'most', 'my', 'no', 'not', 'of', 'on',
  'or', 'other', 'our', 'out', 'she', 'should', 'so', 'some', 'such', 'than', 'that', 'the',
  'their', 'them', 'then', 'there', 'these', 'they', 'this', 'those', 'to', 'too', 'us',
  'very', 'was', 'we', 'were', 'what', 'when', 'where', 'which', 'while', 'who', 'why',
  'will', 'with', 'would', 'you', 'your',
]);

/**
 * A deliberately tiny English suffix stripper so "refund", "refunds" and "refunded" share
 * their word feature; trigrams still link the variants it misses ("shipping" / "ship").
 */
function stem(word: string): string {
  if (word.length <= 4) return word;
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (/(?:ss|us|is)$/.test(word)) return word;
  if (word.endsWith('s')) return word.slice(0, -1);
  if (word.length > 5 && word.endsWith('ed')) return word.slice(0, -2);
  if (word.length > 6 && word.endsWith('ing')) return word.slice(0, -3);
  return word;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** One byte into an FNV-1a 32-bit hash. */
const fnvByte = (hash: number, byte: number) => Math.imul(hash ^ byte, FNV_PRIME);

/**
 * A code point's UTF-8 bytes into an FNV-1a hash, as TextEncoder would encode it (a lone
 * surrogate as U+FFFD). Hashing code points as they come, with no string or byte array made
 * per feature: a send embeds its text on the way to its acknowledgement.
 */
function fnvCodePoint(hash: number, codePoint: number): number {
  let cp = codePoint;
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) return fnvByte(hash, cp);
  if (cp < 0x800) return fnvByte(fnvByte(hash, 0xc0 | (cp >> 6)), 0x80 | (cp & 0x3f));
  if (cp < 0x10000) {
    return fnvByte(fnvByte(fnvByte(hash, 0xe0 | (cp >> 12)), 0x80 | ((cp >> 6) & 0x3f)), 0x80 | (cp & 0x3f));
  }
  const first = fnvByte(fnvByte(hash, 0xf0 | (cp >> 18)), 0x80 | ((cp >> 12) & 0x3f));
  return fnvByte(fnvByte(first, 0x80 | ((cp >> 6) & 0x3f)), 0x80 | (cp & 0x3f));
}

/** The code points of `text`, a lone surrogate kept as itself (fnvCodePoint encodes it as U+FFFD). */
function codePoints(text: string): number[] {
  const points: number[] = [];
  for (const char of text) points.push(char.codePointAt(0)!);
  return points;
}

/** FNV-1a 32-bit over the UTF-8 bytes of `prefix` then of the code points `points[from..to)`. */
function fnv1a(prefix: number, points: readonly number[], from: number, to: number): number {
  let hash = prefix;
  for (let i = from; i < to; i++) hash = fnvCodePoint(hash, points[i]!);
  return hash >>> 0;
}

/** The FNV-1a state after an ASCII prefix: features are hashed as prefix + text. */
function fnvPrefix(prefix: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < prefix.length; i++) hash = fnvByte(hash, prefix.charCodeAt(i));
  return hash;
}

// Prefixes keep the word "abc" and the trigram "abc" in separate feature spaces.
const WORD_PREFIX = fnvPrefix('w:');
const TRIGRAM_PREFIX = fnvPrefix('t:');
const BOUNDARY = '#'.codePointAt(0)!;

function addFeature(vector: Float64Array, hash: number, weight: number): void {
  // The top bit picks the sign, so colliding features cancel out on average instead of piling up.
  const sign = hash & 0x80000000 ? -1 : 1;
  const index = (hash & 0x7fffffff) % vector.length;
  vector[index] = (vector[index] ?? 0) + sign * weight;
}

function embedOne(text: string, dimension: number): number[] {
  const counts = new Map<string, number>();
  for (const word of text.normalize('NFKC').toLowerCase().match(WORD_PATTERN) ?? []) {
    if (STOP_WORDS.has(word)) continue;
    const stemmed = stem(word);
    counts.set(stemmed, (counts.get(stemmed) ?? 0) + 1);
  }
  const vector = new Float64Array(dimension);
  for (const [word, count] of counts) {
    // Sublinear: a word said five times is more on topic, not five times more.
    const weight = 1 + Math.log(count);
    // Code points, not UTF-16 units, so an emoji or CJK extension character is never split in half.
    const points = codePoints(word);
    addFeature(vector, fnv1a(WORD_PREFIX, points, 0, points.length), weight);
    // The trigrams of `#word#`: one per code point of the word.
    const bounded = [BOUNDARY, ...points, BOUNDARY];
    const grams = bounded.length - 2;
    // Scaled so a long word's many trigrams do not outweigh the word itself.
    const gramWeight = (weight * TRIGRAM_WEIGHT) / Math.sqrt(grams);
    for (let i = 0; i < grams; i++) addFeature(vector, fnv1a(TRIGRAM_PREFIX, bounded, i, i + 3), gramWeight);
  }
  let sumOfSquares = 0;
  for (const value of vector) sumOfSquares += value * value;
  const norm = Math.sqrt(sumOfSquares);
  return Array.from(vector, (value) => (norm === 0 ? 0 : value / norm));
}

/**
 * A deterministic, offline embedder based on signed feature hashing of words and their
 * character trigrams. It needs no model or network, so development, tests and CI get stable
 * vectors; retrieval quality is lexical (shared words and spelling variants), not semantic.
 * Text is NFKC-normalised and lowercased; English stop words are dropped, plurals and -ed /
 * -ing forms are crudely stemmed, and repeated words count sublinearly (1 + ln n).
 *
 * Any change to this algorithm (stop words, stemmer, hashing) changes every vector, so stored
 * chunks must then be re-embedded.
 *
 * Each vector has unit length, except for a text with no words other than stop words, which
 * gets the zero vector: its cosine similarity is undefined, so callers must not rank it.
 *
 * @throws RangeError when `dimension` is not an integer from 8 to 4096.
 */
export function createLocalEmbedder({ dimension }: LocalEmbedderOptions): Embedder {
  if (!Number.isInteger(dimension) || dimension < MIN_DIMENSION || dimension > MAX_DIMENSION) {
    throw new RangeError(
      `Embedder dimension must be an integer from ${MIN_DIMENSION} to ${MAX_DIMENSION}, got ${dimension}`,
    );
  }
  return {
    dimension,
    async embed(texts) {
      return texts.map((text) => embedOne(text, dimension));
    },
  };
}
