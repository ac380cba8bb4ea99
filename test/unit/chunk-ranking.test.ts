import type { StoredChunks } from '../../src/repos/chunks';
import { indexChunks, rankChunks } from '../../src/search/chunk-ranking';

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function chunksOf(vectors: number[][]): StoredChunks {
  return {
    sourceIds: vectors.map((_, i) => `source-${i}`),
    contents: vectors.map((_, i) => `chunk ${i}`),
    embeddings: vectors.map((vector) => Float32Array.from(vector)),
  };
}

/** The definition, chunk by chunk, on the float4 values the index holds. */
function bruteForce(vectors: number[][], query: number[], limit: number) {
  const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((sum, x) => sum + x * x, 0));
  return vectors
    .map((vector, i) => {
      const stored = Float32Array.from(vector);
      const dot = Array.from(stored).reduce((sum, x, d) => sum + x * query[d]!, 0);
      return { i, score: dot / (norm(stored) * norm(query)) };
    })
    .filter(({ score }) => Number.isFinite(score))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, limit);
}

describe('exact ranking of a bot’s chunks in process', () => {
  it('ranks as the cosine definition does, for dense and sparse queries', () => {
    const next = random(7);
    const dimension = 64;
    const vectors = Array.from({ length: 300 }, () => Array.from({ length: dimension }, () => next() - 0.5));
    const index = indexChunks(chunksOf(vectors), dimension);
    for (let q = 0; q < 20; q++) {
      // Half the queries have most dimensions zero, as a short chat message embeds.
      const query = Array.from({ length: dimension }, () => (q % 2 === 0 || next() < 0.2 ? next() - 0.5 : 0));
      const expected = bruteForce(vectors, query, 10);
      const ranked = rankChunks(index, query, 10);
      expect(ranked.map((match) => match.sourceId)).toEqual(expected.map(({ i }) => `source-${i}`));
      ranked.forEach((match, k) => expect(match.score).toBeCloseTo(expected[k]!.score, 12));
      expect(ranked[0]!.content).toBe(`chunk ${expected[0]!.i}`);
    }
  });

  it('never ranks a chunk or a query without direction, and returns fewer than the limit when there are fewer', () => {
    const index = indexChunks(
      chunksOf([
        [0, 0, 0, 0],
        [1, 0, 0, 0],
        [0, 1, 0, 0],
      ]),
      4,
    );
    expect(rankChunks(index, [1, 1, 0, 0], 10).map((match) => match.sourceId)).toEqual(['source-1', 'source-2']);
    expect(rankChunks(index, [0, 0, 0, 0], 10)).toEqual([]);
    expect(rankChunks(indexChunks(chunksOf([]), 4), [1, 0, 0, 0], 3)).toEqual([]);
  });

  it('puts the earlier of equal chunks first, and keeps scores within [-1, 1]', () => {
    const same = [0.1, 0.2, 0.3, 0.4];
    const index = indexChunks(chunksOf([same, same, same.map((x) => -x)]), 4);
    const ranked = rankChunks(index, same, 3);
    expect(ranked.map((match) => match.sourceId)).toEqual(['source-0', 'source-1', 'source-2']);
    for (const match of ranked) {
      expect(match.score).toBeLessThanOrEqual(1);
      expect(match.score).toBeGreaterThanOrEqual(-1);
    }
    expect(ranked[0]!.score).toBeCloseTo(1, 6);
    expect(ranked[2]!.score).toBeCloseTo(-1, 6);
  });

  it('refuses vectors of another dimension', () => {
    expect(() => indexChunks(chunksOf([[1, 2, 3]]), 4)).toThrow(RangeError);
    const index = indexChunks(chunksOf([[1, 2, 3, 4]]), 4);
    expect(() => rankChunks(index, [1, 2, 3], 1)).toThrow(RangeError);
  });

  it('counts what it holds: the matrix, the norms and the texts', () => {
    const index = indexChunks(chunksOf([[1, 2, 3, 4]]), 4);
    expect(index.bytes).toBeGreaterThanOrEqual(4 * 4 + 8 + 2 * 'chunk 0'.length);
  });
});
