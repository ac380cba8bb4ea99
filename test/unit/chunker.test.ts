import { chunkText } from '../../src/search/chunker';

function sentences(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `Sentence number ${i} explains refund rule ${i * 7} in plain words.`);
}

describe('chunkText', () => {
  it('returns [] for empty or blank input', () => {
    expect(chunkText('')).toEqual([]);
    expect(chunkText(' \n\t \r\n  ')).toEqual([]);
  });

  it('keeps a short text in one chunk with whitespace normalised', () => {
    const text = '  Hello   world.\tSecond\u00a0 sentence.\r\n\r\n\r\n\r\nNew   paragraph.\nNext line.  ';
    expect(chunkText(text)).toEqual(['Hello world. Second sentence.\n\nNew paragraph.\nNext line.']);
  });

  it('splits a long text into chunks no longer than maxChars that cover every sentence', () => {
    const all = sentences(60);
    const text = [all.slice(0, 20), all.slice(20, 40), all.slice(40)]
      .map((paragraph) => paragraph.join(' '))
      .join('\n\n');
    const chunks = chunkText(text, { maxChars: 300, overlapChars: 60 });

    expect(chunks.length).toBeGreaterThan(text.length / 300);
    for (const chunk of chunks) {
      expect(chunk.length).toBeGreaterThan(0);
      expect(chunk.length).toBeLessThanOrEqual(300);
      expect(chunk).toBe(chunk.trim());
    }
    for (const sentence of all) {
      expect(chunks.some((chunk) => chunk.includes(sentence))).toBe(true);
    }
  });

  it('uses the defaults of 800 and 100 characters', () => {
    const chunks = chunkText(sentences(100).join(' '));
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(800);
    expect(chunks[0]!.length).toBeGreaterThan(700);
    const tail = chunks[0]!.slice(-100);
    expect(chunks[1]!.startsWith(tail.slice(tail.indexOf(' ') + 1))).toBe(true);
  });

  it('starts each chunk with a word-aligned tail of the previous one', () => {
    const chunks = chunkText(sentences(20).join(' '), { maxChars: 200, overlapChars: 50 });
    expect(chunks.length).toBeGreaterThan(2);
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1]!;
      const current = chunks[i]!;
      let overlap = 0;
      for (let n = Math.min(50, previous.length); n > 0; n--) {
        if (current.startsWith(previous.slice(-n))) {
          overlap = n;
          break;
        }
      }
      expect(overlap).toBeGreaterThan(10);
      // Word-aligned: the overlap starts right after a space of the previous chunk.
      expect(previous.charAt(previous.length - overlap - 1)).toBe(' ');
    }
  });

  it('adds no overlap when overlapChars is 0', () => {
    const text = sentences(20).join(' ');
    const chunks = chunkText(text, { maxChars: 200, overlapChars: 0 });
    expect(chunks.join(' ')).toBe(text);
  });

  it('splits an over-long sentence at spaces', () => {
    const sentence = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    const chunks = chunkText(sentence, { maxChars: 100, overlapChars: 0 });
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(100);
      expect(chunk).toMatch(/^word\d+( word\d+)*$/);
    }
    expect(chunks.join(' ')).toBe(sentence);
  });

  it('hard-splits a pathological 10k-character word', () => {
    const word = 'x'.repeat(10_000);
    const chunks = chunkText(`Before. ${word} After.`, { maxChars: 800, overlapChars: 100 });
    for (const chunk of chunks) {
      expect(chunk.length).toBeGreaterThan(0);
      expect(chunk.length).toBeLessThanOrEqual(800);
    }
    expect(chunks.join('').replace(/[^x]/g, '')).toHaveLength(10_000);
    expect(chunks[0]).toBe('Before.');
    expect(chunks.at(-1)).toMatch(/After\.$/);
  });

  it('never splits a surrogate pair', () => {
    const chunks = chunkText('😀'.repeat(30), { maxChars: 11, overlapChars: 0 });
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(11);
      expect(chunk).toMatch(/^(?:😀)+$/u);
    }
    expect(chunks.join('')).toBe('😀'.repeat(30));
  });

  it.each([
    [{ maxChars: 9 }],
    [{ maxChars: 100.5 }],
    [{ maxChars: 100, overlapChars: 100 }],
    [{ maxChars: 100, overlapChars: -1 }],
  ])('rejects options %p', (options) => {
    expect(() => chunkText('text', options)).toThrow(RangeError);
  });
});
