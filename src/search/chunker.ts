import { normaliseLines } from '../core/lines';
export interface ChunkOptions {
  /** Longest chunk, in UTF-16 code units (`string.length`). Default 800; at least 10. */
  maxChars?: number;
  /**
   * How much of the previous chunk's tail to repeat at the start of the next one, so a fact
   * that straddles a boundary is still whole in one chunk. Snapped forward to a word boundary,
   * so the real overlap is usually shorter. Default 100; from 0 to `maxChars - 1`.
   */
  overlapChars?: number;
}

const DEFAULT_MAX_CHARS = 800;
const DEFAULT_OVERLAP_CHARS = 100;
const MIN_MAX_CHARS = 10;

/** A unit that is never split further, and what joins it to the piece before it. */
interface Piece {
  text: string;
  separator: string;
}

const sentenceSegmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

/**
 * In the V8 of Node 20, each step of an `Intl.Segmenter` iteration costs time in proportion to
 * the whole string (https://issues.chromium.org/issues/326176949, fixed in later V8): 140 kB of
 * short sentences took 4 s to chunk, 560 kB took 50 s. So paragraphs are segmented in windows
 * of this many characters, which keeps the cost linear: about 0.3 s per MB of short sentences,
 * 1.3 s per MB of one-word paragraphs (each paragraph is one call).
 */
const SEGMENT_WINDOW_CHARS = 2000;

/**
 * Runs of spaces become one space, lines are trimmed, blank-line runs collapse to one. One pass
 * per line with patterns that cannot backtrack: the text is an owner's, of any shape.
 */
function normaliseWhitespace(text: string): string {
  return normaliseLines(text, (line) => line.replace(/\s+/g, ' ').trim());
}

/** Hard split by code points so a surrogate pair never ends up in two chunks. */
function hardSplit(word: string, maxChars: number): string[] {
  const parts: string[] = [];
  let current = '';
  for (const char of word) {
    if (current.length + char.length > maxChars) {
      parts.push(current);
      current = '';
    }
    current += char;
  }
  if (current) parts.push(current);
  return parts;
}

/** Splits an over-long sentence at spaces, and any over-long word anywhere. */
function splitLongSentence(sentence: string, maxChars: number): string[] {
  const parts: string[] = [];
  let current = '';
  for (const word of sentence.split(' ')) {
    if (current && current.length + 1 + word.length <= maxChars) {
      current += ` ${word}`;
      continue;
    }
    if (current) parts.push(current);
    current = '';
    if (word.length <= maxChars) {
      current = word;
    } else {
      const wordParts = hardSplit(word, maxChars);
      current = wordParts.pop() ?? '';
      parts.push(...wordParts);
    }
  }
  if (current) parts.push(current);
  return parts;
}

function segmentsOf(text: string): string[] {
  return Array.from(sentenceSegmenter.segment(text), ({ segment }) => segment);
}

/**
 * The sentences of a paragraph, as `Intl.Segmenter` finds them in the whole paragraph, but read
 * through windows of SEGMENT_WINDOW_CHARS. A window's last two sentences are read again with
 * what follows: the last may go on past the window, and whether a sentence ends before it may
 * depend on what comes after (a full stop is no sentence end when a lower-case word follows).
 * A sentence longer than a window is read on in the next one; only next to such a sentence can
 * a boundary fall elsewhere than in one pass over the whole paragraph.
 */
function* sentencesOf(paragraph: string): Generator<string> {
  let start = 0;
  let pending = '';
  while (paragraph.length - start > SEGMENT_WINDOW_CHARS) {
    let end = start + SEGMENT_WINDOW_CHARS;
    // Ending the window inside a surrogate pair would show the segmenter half a character.
    if (/[\uD800-\uDBFF]/.test(paragraph.charAt(end - 1))) end--;
    const segments = segmentsOf(paragraph.slice(start, end));
    if (segments.length === 1) {
      pending += segments[0];
      start = end;
      continue;
    }
    for (const segment of segments.slice(0, Math.max(1, segments.length - 2))) {
      yield pending + segment;
      pending = '';
      start += segment.length;
    }
  }
  for (const segment of segmentsOf(paragraph.slice(start))) {
    yield pending + segment;
    pending = '';
  }
  if (pending) yield pending;
}

function toPieces(text: string, maxChars: number): Piece[] {
  const pieces: Piece[] = [];
  for (const [paragraphIndex, paragraph] of text.split('\n\n').entries()) {
    let separator = paragraphIndex === 0 ? '' : '\n\n';
    for (const segment of sentencesOf(paragraph)) {
      const sentence = segment.trim();
      if (!sentence) continue;
      for (const part of splitLongSentence(sentence, maxChars)) {
        pieces.push({ text: part, separator });
        separator = ' ';
      }
      // Single line breaks (lists, addresses, verse) survive inside a paragraph.
      if (segment.endsWith('\n')) separator = '\n';
    }
  }
  return pieces;
}

/** The longest tail of `chunk` within `limit` chars that starts at a word boundary. */
function overlapTail(chunk: string, limit: number): string {
  if (limit <= 0) return '';
  if (chunk.length <= limit) return chunk;
  const tail = chunk.slice(chunk.length - limit);
  if (/\s/.test(chunk.charAt(chunk.length - limit - 1))) return tail.trim();
  const boundary = tail.search(/\s/);
  // No whitespace in reach means we are inside one giant word: repeating half of it helps no one.
  return boundary === -1 ? '' : tail.slice(boundary).trim();
}

/**
 * Splits a document into chunks for embedding: whitespace is normalised (runs of spaces
 * collapse, paragraph and line breaks stay), then text is cut at paragraphs, then sentences,
 * then spaces, and as a last resort inside a word. Pieces are packed greedily up to `maxChars`
 * and each chunk after the first starts with a word-aligned tail of the previous one.
 *
 * Every chunk is non-empty and at most `maxChars` long; blank input gives `[]`.
 *
 * @throws RangeError when `maxChars` is not an integer ≥ 10 or `overlapChars` is not an
 *   integer from 0 to `maxChars - 1`.
 */
export function chunkText(text: string, options: ChunkOptions = {}): string[] {
  const { maxChars = DEFAULT_MAX_CHARS, overlapChars = DEFAULT_OVERLAP_CHARS } = options;
  if (!Number.isInteger(maxChars) || maxChars < MIN_MAX_CHARS) {
    throw new RangeError(`maxChars must be an integer ≥ ${MIN_MAX_CHARS}, got ${maxChars}`);
  }
  if (!Number.isInteger(overlapChars) || overlapChars < 0 || overlapChars >= maxChars) {
    throw new RangeError(`overlapChars must be an integer from 0 to maxChars - 1, got ${overlapChars}`);
  }

  const chunks: string[] = [];
  let current = '';
  for (const piece of toPieces(normaliseWhitespace(text), maxChars)) {
    if (!current) {
      current = piece.text;
      continue;
    }
    if (current.length + piece.separator.length + piece.text.length <= maxChars) {
      current += piece.separator + piece.text;
      continue;
    }
    chunks.push(current);
    // The overlap yields to the new piece so that a chunk never exceeds maxChars.
    const room = maxChars - piece.separator.length - piece.text.length;
    const overlap = overlapTail(current, Math.min(overlapChars, room));
    current = overlap ? overlap + piece.separator + piece.text : piece.text;
  }
  if (current) chunks.push(current);
  return chunks;
}
