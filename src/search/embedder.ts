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

const utf8 = new TextEncoder();

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

/** FNV-1a 32-bit over UTF-8 bytes: stable across processes, platforms and Node versions. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function addFeature(vector: Float64Array, feature: string, weight: number): void {
  const hash = fnv1a(feature);
  // The top bit picks the sign, so colliding features cancel out on average instead of piling up.
  const sign = hash & 0x80000000 ? -1 : 1;
  const index = (hash & 0x7fffffff) % vector.length;
  vector[index] = (vector[index] ?? 0) + sign * weight;
}

function trigrams(word: string): string[] {
  // Code points, not UTF-16 units, so an emoji or CJK extension character is never split in half.
  const chars = Array.from(`#${word}#`);
  const grams: string[] = [];
  for (let i = 0; i + 3 <= chars.length; i++) grams.push(chars.slice(i, i + 3).join(''));
  return grams;
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
    // Prefixes keep the word "abc" and the trigram "abc" in separate feature spaces.
    addFeature(vector, `w:${word}`, weight);
    const grams = trigrams(word);
    // Scaled so a long word's many trigrams do not outweigh the word itself.
    const gramWeight = (weight * TRIGRAM_WEIGHT) / Math.sqrt(grams.length);
    for (const gram of grams) addFeature(vector, `t:${gram}`, gramWeight);
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
