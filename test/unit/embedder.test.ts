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
