import { execFileSync } from 'node:child_process';
import { createLocalEmbedder } from '../../src/search/embedder';

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  a.forEach((value, i) => {
    const other = b[i] ?? 0;
    dot += value * other;
    normA += value * value;
    normB += other * other;
  });
  return dot / Math.sqrt(normA * normB);
}

function norm(vector: number[]): number {
  return Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
}

/**
 * The embedder as first written, with a string and a byte array per feature: the definition
 * the stored vectors come from, which the faster hashing must match to the bit.
 */
function referenceEmbed(text: string, dimension: number): number[] {
  const STOP = new Set(['a', 'the', 'and', 'is', 'of', 'how', 'do', 'i', 'to', 'my', 'what']);
  const utf8 = new TextEncoder();
  const fnv1a = (feature: string) => {
    let hash = 0x811c9dc5;
    for (const byte of utf8.encode(feature)) {
      hash ^= byte;
      hash = Math.imul(hash, 0x01000193);
    }
    return hash >>> 0;
  };
  const stem = (word: string) => {
    if (word.length <= 4) return word;
    if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
    if (/(?:ss|us|is)$/.test(word)) return word;
    if (word.endsWith('s')) return word.slice(0, -1);
    if (word.length > 5 && word.endsWith('ed')) return word.slice(0, -2);
    if (word.length > 6 && word.endsWith('ing')) return word.slice(0, -3);
    return word;
  };
  const vector = new Float64Array(dimension);
  const add = (feature: string, weight: number) => {
    const hash = fnv1a(feature);
    const index = (hash & 0x7fffffff) % dimension;
    vector[index] = vector[index]! + (hash & 0x80000000 ? -1 : 1) * weight;
  };
  const counts = new Map<string, number>();
  for (const word of text
    .normalize('NFKC')
    .toLowerCase()
    .match(/[\p{L}\p{M}\p{N}]+/gu) ?? []) {
    if (STOP.has(word)) continue;
    counts.set(stem(word), (counts.get(stem(word)) ?? 0) + 1);
  }
  for (const [word, count] of counts) {
    const weight = 1 + Math.log(count);
    add(`w:${word}`, weight);
    const chars = Array.from(`#${word}#`);
    const grams: string[] = [];
    for (let i = 0; i + 3 <= chars.length; i++) grams.push(chars.slice(i, i + 3).join(''));
    for (const gram of grams) add(`t:${gram}`, (weight * 0.5) / Math.sqrt(grams.length));
  }
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  return Array.from(vector, (value) => (norm === 0 ? 0 : value / norm));
}

describe('createLocalEmbedder', () => {
  const embedder = createLocalEmbedder({ dimension: 256 });

  it('honours the dimension and returns one vector per text, in order', async () => {
    const small = createLocalEmbedder({ dimension: 16 });
    expect(small.dimension).toBe(16);
    const vectors = await small.embed(['first text', 'second text', 'third']);
    expect(vectors).toHaveLength(3);
    for (const vector of vectors) expect(vector).toHaveLength(16);
    expect(await small.embed(['third'])).toEqual([vectors[2]]);
    expect(await small.embed([])).toEqual([]);
  });

  it('returns unit-length vectors', async () => {
    const vectors = await embedder.embed(['How do I get a refund?', 'Ünïcødé wörds ünd 数字 123']);
    for (const vector of vectors) expect(norm(vector)).toBeCloseTo(1, 10);
  });

  it('returns the zero vector for empty and stop-word-only text', async () => {
    const [empty, stopWords, punctuation] = await embedder.embed(['', 'the and is of', '?! …']);
    for (const vector of [empty, stopWords, punctuation]) {
      expect(vector).toHaveLength(256);
      expect(vector!.every((value) => value === 0)).toBe(true);
    }
  });

  it('ignores case, stop words and Unicode compatibility forms', async () => {
    const [a, b] = await embedder.embed(['Refund Policy ２０２４', 'how is the refund policy 2024']);
    expect(a).toEqual(b);
  });

  it('gives the same vector for the same text in another process', async () => {
    const text = 'Deterministic hashing: café, naïve, 東京, 42';
    const [here] = await embedder.embed([text]);
    const output = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { createLocalEmbedder } = require('./src/search/embedder');
         createLocalEmbedder({ dimension: 256 }).embed([${JSON.stringify(text)}])
           .then(([v]) => process.stdout.write(JSON.stringify(v)));`,
      ],
      { cwd: `${__dirname}/../..`, encoding: 'utf8' },
    );
    expect(JSON.parse(output)).toEqual(here);
  });

  it('hashes exactly as its first definition did, over every kind of character', async () => {
    // Texts without the stop words the reference leaves out: ASCII, Latin, CJK, emoji (4-byte
    // UTF-8), combining marks, digits, and characters from every UTF-8 length, drawn at random
    // by a fixed-seed generator.
    let seed = 42;
    const random = () => (seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) >>> 0) / 2 ** 32;
    const alphabet = ['refund', 'shipping', 'café', 'naïve', '東京', '数字', '😀', '𝔘', 'é', 'ß', 'ǅ', 'ﬁ', '٣', '½'];
    const texts = ['Refunds shipped abroad: café 東京 😀 42', 'x', 'ab', 'Ωmega ünïcødé 𝒜𝒷𝒸 ǈǉǊ'];
    for (let n = 0; n < 200; n++) {
      const words = Array.from({ length: 1 + Math.floor(random() * 8) }, () => {
        if (random() < 0.5) return alphabet[Math.floor(random() * alphabet.length)]!;
        // Seven or more: no stop word of either list (the longest has six letters).
        const length = 7 + Math.floor(random() * 6);
        const ranges = [
          [0x61, 0x7a],
          [0xe0, 0x24f],
          [0x400, 0x4ff],
          [0x4e00, 0x9fff],
          // Across the 2- to 3-byte line (NKo, Samaritan), and 4-byte letters NFKC keeps (CJK Extension B).
          [0x7c0, 0x83f],
          [0x20000, 0x2a6df],
        ] as const;
        const [low, high] = ranges[Math.floor(random() * ranges.length)]!;
        return String.fromCodePoint(...Array.from({ length }, () => low + Math.floor(random() * (high - low + 1))));
      });
      texts.push(words.join(random() < 0.5 ? ' ' : ', '));
    }
    for (const dimension of [16, 1024]) {
      const vectors = await createLocalEmbedder({ dimension }).embed(texts);
      texts.forEach((text, i) =>
        expect({ text, vector: vectors[i] }).toEqual({ text, vector: referenceEmbed(text, dimension) }),
      );
    }
  });

  // Stored chunk vectors were computed by this exact algorithm; changing it needs a re-embed.
  it('keeps producing the vectors already stored in the database', async () => {
    const [vector] = await createLocalEmbedder({ dimension: 16 }).embed([
      'The refunded orders: shipping to 東京, 2024!',
    ]);
    const expected = [
      0.140594, -0.134469, 0, -0.064172, -0.064172, -0.070297, -0.006125, 0.078594, -0.24408, -0.078594, 0.826796,
      -0.140594, -0.314377, 0, 0.273525, 0,
    ];
    expected.forEach((value, i) => expect(vector![i]).toBeCloseTo(value, 5));
  });

  it('scores texts that share words above unrelated texts', async () => {
    const [query, related, unrelated] = await embedder.embed([
      'How can I cancel my subscription?',
      'To cancel a subscription, open billing settings.',
      'Our office dog is called Biscuit and loves walks.',
    ]);
    expect(cosine(query!, related!)).toBeGreaterThan(cosine(query!, unrelated!) + 0.2);
  });

  it('gives plural and past forms the same word feature', async () => {
    const [refund, refunds, refunded, invoices] = await embedder.embed(['refund', 'refunds', 'refunded', 'invoices']);
    expect(cosine(refund!, refunds!)).toBeCloseTo(1, 10);
    expect(cosine(refund!, refunded!)).toBeCloseTo(1, 10);
    expect(cosine(refund!, invoices!)).toBeLessThan(0.1);
  });

  it('relates variants the stemmer misses through shared trigrams', async () => {
    const wide = createLocalEmbedder({ dimension: 1024 });
    const [ship, shipping, invoice] = await wide.embed(['ship', 'shipping', 'invoice']);
    expect(cosine(ship!, shipping!)).toBeGreaterThan(0.1);
    expect(cosine(ship!, shipping!)).toBeGreaterThan(cosine(ship!, invoice!) + 0.1);
  });

  it('matches a question to the passage that answers it', async () => {
    const passages = [
      'Refunds are issued within 14 days of purchase. Contact support with your order number.',
      'Shipping takes 3 to 5 business days within the EU.',
      'Passwords must be at least 12 characters long.',
    ];
    const [question, ...vectors] = await embedder.embed(['How do I get a refund?', ...passages]);
    const scores = vectors.map((vector) => cosine(question!, vector));
    expect(scores[0]).toBeGreaterThan(Math.max(scores[1]!, scores[2]!) + 0.2);
  });

  it.each([0, 7, 4097, 12.5, Number.NaN])('rejects dimension %p', (dimension) => {
    expect(() => createLocalEmbedder({ dimension })).toThrow(RangeError);
  });
});
