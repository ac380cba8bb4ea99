import {
  decodeUtf8Strict,
  detectFormat,
  extractText,
  extractTitleFromHtml,
  UnsupportedContentError,
} from '../../src/sources/extract-text';

describe('detectFormat', () => {
  it.each([
    ['text/plain', 'text'],
    ['text/plain; charset=utf-8', 'text'],
    ['text/markdown', 'markdown'],
    ['text/x-markdown', 'markdown'],
    ['TEXT/HTML; charset=UTF-8', 'html'],
    ['application/xhtml+xml', 'html'],
  ])('maps content type %p to %p', (contentType, format) => {
    expect(detectFormat({ contentType })).toBe(format);
  });

  it.each([
    ['notes.txt', 'text'],
    ['notes.text', 'text'],
    ['README.MD', 'markdown'],
    ['guide.markdown', 'markdown'],
    ['page.html', 'html'],
    ['page.htm', 'html'],
  ])('falls back to the extension of %p', (filename, format) => {
    expect(detectFormat({ filename })).toBe(format);
    expect(detectFormat({ filename, contentType: 'application/octet-stream' })).toBe(format);
    expect(detectFormat({ filename, contentType: '' })).toBe(format);
  });

  it('prefers a specific content type over the extension', () => {
    expect(detectFormat({ contentType: 'text/html', filename: 'page.txt' })).toBe('html');
    expect(detectFormat({ contentType: 'text/markdown', filename: 'notes.txt' })).toBe('markdown');
  });

  it('treats text/plain with a Markdown extension as Markdown', () => {
    expect(detectFormat({ contentType: 'text/plain', filename: 'README.md' })).toBe('markdown');
    expect(detectFormat({ contentType: 'text/plain', filename: 'page.html' })).toBe('text');
  });

  it('returns undefined for unsupported content', () => {
    expect(detectFormat({})).toBeUndefined();
    expect(detectFormat({ filename: 'report.pdf' })).toBeUndefined();
    expect(detectFormat({ filename: 'Makefile' })).toBeUndefined();
    expect(detectFormat({ contentType: 'application/octet-stream', filename: 'a.exe' })).toBe(undefined);
    expect(detectFormat({ contentType: 'application/pdf', filename: 'report.txt' })).toBe(undefined);
    expect(detectFormat({ contentType: 'image/png' })).toBeUndefined();
  });
});

describe('extractText', () => {
  it('keeps plain text, normalising line endings and blank lines', () => {
    const raw = '\r\n  First line   \r\nsecond *line*\r\n\r\n\r\n\r\nThird [x](y)\n\n';
    expect(extractText(raw, 'text')).toBe('First line\nsecond *line*\n\nThird [x](y)');
  });

  it('renders HTML as readable text', () => {
    const html = `<!doctype html><html><head><title>Pricing</title>
      <style>body { color: red }</style><script>track('x')</script></head>
      <body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
      <h1>Plans &amp; prices</h1>
      <p>Read <a href="https://example.com/terms">our terms</a> first.<img src="a.png" alt="diagram"></p>
      <ul><li>Basic</li><li>Pro</li></ul>
      <table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>10 €</td></tr></table>
      </body></html>`;
    const text = extractText(html, 'html');
    expect(text).toContain('Plans & prices');
    expect(text).toContain('Read our terms first.');
    expect(text).toMatch(/Basic\n.*Pro/);
    expect(text).toMatch(/Plan\s+Price\nBasic\s+10 €/);
    for (const absent of ['https://', 'a.png', 'diagram', 'track', 'color', 'Home', 'About', '[']) {
      expect(text).not.toContain(absent);
    }
    expect(text).not.toMatch(/\n{3}/);
    expect(text).toBe(text.trim());
  });

  it('strips Markdown syntax but keeps the words and code', () => {
    const markdown = [
      '# Getting *started* #',
      '',
      '',
      '',
      'Read the **[docs](https://example.com/docs)** or _the FAQ_ and ~~old~~ `npm test`.',
      '![logo](logo.png)',
      'Keep snake_case_names, 2 * 3 * 4 and \\*literal stars\\*.',
      '> Quoted <b>bold</b> text',
      '---',
      '- item one',
      '1. item two [see][ref]',
      '',
      '```ts',
      'const x = a_b * c; // **not emphasis**',
      '```',
      '',
      '[ref]: https://example.com/ref',
    ].join('\n');
    expect(extractText(markdown, 'markdown')).toBe(
      [
        'Getting started',
        '',
        'Read the docs or the FAQ and old npm test.',
        '',
        'Keep snake_case_names, 2 * 3 * 4 and *literal stars*.',
        'Quoted bold text',
        '',
        '- item one',
        '1. item two see',
        '',
        'const x = a_b * c; // **not emphasis**',
      ].join('\n'),
    );
  });
});

describe('extractTitleFromHtml', () => {
  it('returns the decoded, collapsed title', () => {
    const html = '<html><head><TITLE lang="en">\n  Tea &amp; Biscuits\n  | Shop </TITLE></head></html>';
    expect(extractTitleFromHtml(html)).toBe('Tea & Biscuits | Shop');
  });

  it('returns undefined when there is no title or it is blank', () => {
    expect(extractTitleFromHtml('<html><body><h1>No title</h1></body></html>')).toBeUndefined();
    expect(extractTitleFromHtml('<title>  </title>')).toBeUndefined();
  });
});

describe('decodeUtf8Strict', () => {
  it('decodes UTF-8 and drops a byte-order mark', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Grüße, 東京 😀')]);
    expect(decodeUtf8Strict(bytes)).toBe('Grüße, 東京 😀');
  });

  it('rejects invalid UTF-8 with a typed error', () => {
    const latin1 = Buffer.from('caf\xe9', 'latin1');
    expect(() => decodeUtf8Strict(latin1)).toThrow(UnsupportedContentError);
    expect(() => decodeUtf8Strict(latin1)).toThrow(
      expect.objectContaining({ name: 'UnsupportedContentError', reason: 'invalid-utf8' }),
    );
  });

  it('rejects binary content containing NUL bytes', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);
    expect(() => decodeUtf8Strict(png)).toThrow(
      expect.objectContaining({ name: 'UnsupportedContentError', reason: 'binary' }),
    );
    expect(() => decodeUtf8Strict(Buffer.from('text\0more'))).toThrow(UnsupportedContentError);
  });
});
