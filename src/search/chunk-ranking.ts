import type { ChunkMatch, StoredChunks } from '../repos/chunks';

/** What one chunk costs besides its vector and text: its slots in the arrays, its id string. An estimate. */
const CHUNK_OVERHEAD_BYTES = 120;

/**
 * A bot's chunks laid out for exact cosine ranking: the embeddings in one matrix, dimension by
 * dimension (`matrix[d * count + i]` is dimension `d` of chunk `i`), so a query walks only its
 * non-zero dimensions, each over one contiguous run of memory. A chat message embeds to a few
 * hundred non-zero dimensions of 1,024 (words and their trigrams, hashed), so this does a
 * fraction of the multiplications of a row-by-row scan.
 */
export interface ChunkIndex {
  count: number;
  dimension: number;
  sourceIds: string[];
  contents: string[];
  matrix: Float32Array;
  /** Each chunk's Euclidean norm; 0 for a chunk with no words but stop words (never ranked). */
  norms: Float64Array;
  /** What it holds in memory, estimated: what the chunk memory bounds. */
  bytes: number;
}

/** Lays out stored chunks for `rankChunks`; every embedding must have `dimension` values. */
export function indexChunks(stored: StoredChunks, dimension: number): ChunkIndex {
  const count = stored.embeddings.length;
  const matrix = new Float32Array(dimension * count);
  const norms = new Float64Array(count);
  stored.embeddings.forEach((embedding, i) => {
    if (embedding.length !== dimension) {
      throw new RangeError(`a chunk's embedding has ${embedding.length} dimensions, not ${dimension}`);
    }
    let sumOfSquares = 0;
    for (let d = 0; d < dimension; d++) {
      const value = embedding[d]!;
      matrix[d * count + i] = value;
      sumOfSquares += value * value;
    }
    norms[i] = Math.sqrt(sumOfSquares);
  });
  let textBytes = 0;
  for (let i = 0; i < count; i++) {
    // Two bytes a UTF-16 unit: an upper bound, as V8 keeps Latin-1 text in one.
    textBytes += 2 * (stored.contents[i]!.length + stored.sourceIds[i]!.length) + CHUNK_OVERHEAD_BYTES;
  }
  return {
    count,
    dimension,
    sourceIds: stored.sourceIds,
    contents: stored.contents,
    matrix,
    norms,
    bytes: matrix.byteLength + norms.byteLength + textBytes,
  };
}

/**
 * The `limit` chunks most similar to `query` by cosine similarity, best first (ties: the
 * earlier chunk first), exactly: every chunk is scored, where pgvector's HNSW index is
 * approximate. Sums are in double precision (pgvector's in single), so scores agree with
 * PostgreSQL's to about 1e-6, and are clamped to [-1, 1] as there. A zero `query` or chunk has no direction: it is never ranked.
 */
export function rankChunks(index: ChunkIndex, query: readonly number[], limit: number): ChunkMatch[] {
  const { count, matrix, norms } = index;
  if (query.length !== index.dimension) {
    throw new RangeError(`the query has ${query.length} dimensions, the chunks ${index.dimension}`);
  }
  const dots = new Float64Array(count);
  let querySumOfSquares = 0;
  for (let d = 0; d < query.length; d++) {
    const weight = query[d]!;
    if (weight === 0) continue;
    querySumOfSquares += weight * weight;
    const row = d * count;
    for (let i = 0; i < count; i++) dots[i]! += weight * matrix[row + i]!;
  }
  const queryNorm = Math.sqrt(querySumOfSquares);
  if (queryNorm === 0) return [];

  // The best `limit` so far, best first: insertion into a short array beats a heap at these sizes.
  const best: { index: number; score: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (norms[i] === 0) continue;
    // Rounding can take a chunk equal to the query just past 1: clamped, as pgvector does.
    const score = Math.max(-1, Math.min(1, dots[i]! / (queryNorm * norms[i]!)));
    if (best.length === limit && score <= best[limit - 1]!.score) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.score < score) at--;
    best.splice(at, 0, { index: i, score });
    if (best.length > limit) best.pop();
  }
  return best.map(({ index: i, score }) => ({ sourceId: index.sourceIds[i]!, content: index.contents[i]!, score }));
}
