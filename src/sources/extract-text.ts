import { convert, type HtmlToTextOptions } from 'html-to-text';
import { normaliseLines } from '../core/lines';

export type ContentFormat = 'text' | 'markdown' | 'html';

export type UnsupportedContentReason = 'invalid-utf8' | 'binary';

/** The bytes of a source are not text we can index; the message is safe to show an owner. */
export class UnsupportedContentError extends Error {
  override readonly name = 'UnsupportedContentError';

  constructor(
    readonly reason: UnsupportedContentReason,
    message = reason === 'binary' ? 'Content is binary, not text' : 'Content is not valid UTF-8 text',
  ) {
    super(message);
  }
}

// Everything below reads text an owner (or any web page) controls, so every scan is linear:
// no regular expression with a quantifier that can backtrack over the same characters twice.
// Where a regular expression would need one, a hand-written scan with the same result takes
// its place.

const FORMAT_BY_CONTENT_TYPE: Record<string, ContentFormat> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
};

const FORMAT_BY_EXTENSION: Record<string, ContentFormat> = {
  txt: 'text',
  text: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
};

function extensionOf(filename: string | undefined): string | undefined {
  if (filename === undefined) return undefined;
  const dot = filename.lastIndexOf('.');
  const extension = filename.slice(dot + 1).toLowerCase();
  return dot !== -1 && /^[a-z0-9]+$/.test(extension) ? extension : undefined;
}

/**
 * Picks the format of a source from its content type, falling back to the filename's
 * extension when the content type is missing or `application/octet-stream`. `undefined`
 * means the source is not supported.
 *
 * `text/plain` with a Markdown extension counts as Markdown: many servers (raw GitHub
 * files among them) and some browsers label `.md` files as plain text.
 */
export function detectFormat(input: { contentType?: string; filename?: string }): ContentFormat | undefined {
  const mediaType = input.contentType?.split(';')[0]?.trim().toLowerCase();
  const byExtension = FORMAT_BY_EXTENSION[extensionOf(input.filename) ?? ''];
  if (!mediaType || mediaType === 'application/octet-stream') return byExtension;
  const byContentType = FORMAT_BY_CONTENT_TYPE[mediaType];
  if (byContentType === 'text' && byExtension === 'markdown') return 'markdown';
  return byContentType;
}

const HEADINGS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

/**
 * html-to-text walks the document recursively: a few thousand nested tags overflow the stack.
 * Real pages nest a few dozen deep; what lies deeper than this is dropped.
 */
const HTML_MAX_DEPTH = 1000;

const HTML_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  limits: { maxDepth: HTML_MAX_DEPTH, ellipsis: '' },
  selectors: [
    ...HEADINGS.map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
    // Menus, fallbacks and embeds repeat on every page and would drown the page's own content.
    ...['nav', 'noscript', 'iframe', 'svg', 'template', 'form', 'button'].map((selector) => ({
      selector,
      format: 'skip',
    })),
  ],
};

/** The characters of JavaScript's `\s`, by code unit. */
function isSpace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** The characters of JavaScript's `\w` (without the `u` flag), by code unit. */
function isWordChar(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) || // 0-9
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x61 && code <= 0x7a) || // a-z
    code === 0x5f // _
  );
}

function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/** Whether `text` has `lowercase` (ASCII letters and punctuation) at `at`, in any letter case. */
function hasAsciiIgnoringCase(text: string, at: number, lowercase: string): boolean {
  for (let i = 0; i < lowercase.length; i++) {
    const code = text.charCodeAt(at + i);
    const expected = lowercase.charCodeAt(i);
    if (code !== expected && !(expected >= 0x61 && expected <= 0x7a && code === expected - 0x20)) return false;
  }
  return true;
}

/** Where the text starts after at most `max` leading whitespace characters. */
function skipSpaces(line: string, from: number, max = Infinity): number {
  let at = from;
  while (at - from < max && isSpace(line.charCodeAt(at))) at++;
  return at;
}

/**
 * Replaces every `<open>text]<between>target<end>`, where neither `text` nor `target` contains
 * its closing character: `![alt](src)`, `![alt][ref]`, `[text](href)`, `[text][ref]`. Every
 * opener before a `]` stops at that same `]`, so when it does not lead on to a target, no opener
 * up to it can: the scan resumes after it, and each character is visited a bounded number of times.
 */
function replaceBracketed(
  line: string,
  syntax: { open: string; between: '(' | '['; end: ')' | ']'; minTextLength: number },
  replacement: (text: string) => string,
): string {
  const { open, between, end, minTextLength } = syntax;
  let out = '';
  let copied = 0;
  let opener = line.indexOf(open);
  while (opener !== -1) {
    const textStart = opener + open.length;
    const close = line.indexOf(']', textStart);
    if (close === -1) break;
    if (close - textStart >= minTextLength && line[close + 1] === between) {
      const targetEnd = line.indexOf(end, close + 2);
      // No later opener can find an end either.
      if (targetEnd === -1) break;
      out += line.slice(copied, opener) + replacement(line.slice(textStart, close));
      copied = targetEnd + 1;
      opener = line.indexOf(open, copied);
    } else {
      opener = line.indexOf(open, close + 1);
    }
  }
  return out + line.slice(copied);
}

const AUTOLINK_SCHEMES = ['http:', 'https:', 'mailto:'];

/** `<((?:https?|mailto):[^>\s]+)>` (any case) becomes its URL. */
function unwrapAutolinks(line: string): string {
  let out = '';
  let copied = 0;
  let lt = line.indexOf('<');
  while (lt !== -1) {
    const scheme = AUTOLINK_SCHEMES.find((prefix) => hasAsciiIgnoringCase(line, lt + 1, prefix));
    if (scheme === undefined) {
      lt = line.indexOf('<', lt + 1);
      continue;
    }
    const urlStart = lt + 1 + scheme.length;
    let urlEnd = urlStart;
    while (urlEnd < line.length && line[urlEnd] !== '>' && !isSpace(line.charCodeAt(urlEnd))) urlEnd++;
    if (urlEnd > urlStart && line[urlEnd] === '>') {
      out += line.slice(copied, lt) + line.slice(lt + 1, urlEnd);
      copied = urlEnd + 1;
      lt = line.indexOf('<', copied);
    } else {
      // A `<` up to urlEnd would run to the same character and fail there too.
      lt = line.indexOf('<', urlEnd);
    }
  }
  return out + line.slice(copied);
}

/** Removes `<!-- ... -->` comments. */
function removeComments(line: string): string {
  let out = '';
  let copied = 0;
  let open = line.indexOf('<!--');
  while (open !== -1) {
    const close = line.indexOf('-->', open + 4);
    if (close === -1) break;
    out += line.slice(copied, open);
    copied = close + 3;
    open = line.indexOf('<!--', copied);
  }
  return out + line.slice(copied);
}

/** Removes HTML tags, `<\/?[a-z][^>]*>` in any case. */
function removeTags(line: string): string {
  let out = '';
  let copied = 0;
  let lt = line.indexOf('<');
  while (lt !== -1) {
    const nameStart = line[lt + 1] === '/' ? lt + 2 : lt + 1;
    if (!isAsciiLetter(line.charCodeAt(nameStart))) {
      lt = line.indexOf('<', lt + 1);
      continue;
    }
    const gt = line.indexOf('>', nameStart + 1);
    // No later tag can close either.
    if (gt === -1) break;
    out += line.slice(copied, lt);
    copied = gt + 1;
    lt = line.indexOf('<', copied);
  }
  return out + line.slice(copied);
}

/** Removes block-quote markers: up to 3 spaces, then `>`, each with one optional space after it. */
function stripQuoteMarkers(line: string): string {
  let at = skipSpaces(line, 0, 3);
  if (line[at] !== '>') return line;
  while (line[at] === '>') {
    at++;
    if (isSpace(line.charCodeAt(at))) at++;
  }
  return line.slice(at);
}

/** An ATX heading's text: `## Title ##` becomes `Title`; other lines are returned as they are. */
function stripHeadingMarkers(line: string): string {
  const hashesStart = skipSpaces(line, 0, 3);
  let textStart = hashesStart;
  while (line[textStart] === '#') textStart++;
  const level = textStart - hashesStart;
  if (level < 1 || level > 6 || !isSpace(line.charCodeAt(textStart))) return line;
  const text = line.slice(skipSpaces(line, textStart)).trimEnd();
  // A closing run of `#` counts only when whitespace separates it from the text.
  let closingStart = text.length;
  while (closingStart > 0 && text[closingStart - 1] === '#') closingStart--;
  return closingStart < text.length && closingStart > 0 && isSpace(text.charCodeAt(closingStart - 1))
    ? text.slice(0, closingStart).trimEnd()
    : text;
}

/** A thematic break or setext underline: up to 3 spaces, then 3 or more of `-*_=` among spaces. */
function isRule(line: string): boolean {
  let at = skipSpaces(line, 0, 3);
  let markers = 0;
  for (; at < line.length; at++) {
    const char = line[at]!;
    if ('-*_='.includes(char)) markers++;
    else if (markers === 0 || !isSpace(line.charCodeAt(at))) return false;
  }
  return markers >= 3;
}

/** `` `code` `` becomes `code`: a run of backticks, text, and the next run of backticks. */
function unwrapCodeSpans(line: string): string {
  let out = '';
  let copied = 0;
  let open = line.indexOf('`');
  while (open !== -1) {
    let codeStart = open;
    while (line[codeStart] === '`') codeStart++;
    const codeEnd = line.indexOf('`', codeStart);
    // Without a closing backtick no later span can close either.
    if (codeEnd === -1) break;
    let after = codeEnd;
    while (line[after] === '`') after++;
    out += line.slice(copied, open) + line.slice(codeStart, codeEnd);
    copied = after;
    open = line.indexOf('`', after);
  }
  return out + line.slice(copied);
}

interface EmphasisSyntax {
  /** The markers, all of one length. */
  delimiters: readonly string[];
  /** Whether this character may stand right before an opening marker (a line start always may). */
  mayPrecede(code: number): boolean;
  /** Whether this character may stand right inside a marker (first and last character of the text). */
  mayHug(code: number): boolean;
  /** Whether this character may stand right after a closing marker (`NaN` at the end of the line). */
  mayFollow(code: number): boolean;
}

/** `**strong**`, `__strong__` and `~~struck~~`: `(^|[^\w\\])(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\2(?!\w)`. */
const STRONG: EmphasisSyntax = {
  delimiters: ['**', '__', '~~'],
  mayPrecede: (code) => !isWordChar(code) && code !== 0x5c, // \
  mayHug: (code) => !Number.isNaN(code) && !isSpace(code),
  mayFollow: (code) => !isWordChar(code),
};

/** `*em*` and `_em_`: `(^|[^\w\\*])([*_])(?=[^\s*])(.+?)(?<=[^\s*])\2(?![\w*])`. */
const EMPHASIS: EmphasisSyntax = {
  delimiters: ['*', '_'],
  mayPrecede: (code) => !isWordChar(code) && code !== 0x5c && code !== 0x2a, // \ *
  mayHug: (code) => !Number.isNaN(code) && !isSpace(code) && code !== 0x2a,
  mayFollow: (code) => !isWordChar(code) && code !== 0x2a,
};

/**
 * Drops emphasis markers that hug their text, leftmost span first and each span ending at the
 * first marker that can close it, as the regular expressions above would. The places where a
 * marker can close depend only on its neighbours, so they are listed once, and each opener
 * takes the first one after it from a cursor that only moves forward.
 */
function unwrapEmphasis(line: string, syntax: EmphasisSyntax): string {
  const width = syntax.delimiters[0]!.length;
  const closers = new Map(syntax.delimiters.map((delimiter) => [delimiter, { at: [] as number[], next: 0 }]));
  const firstChars = new Set(syntax.delimiters.map((delimiter) => delimiter[0]));
  for (let at = 1; at + width <= line.length; at++) {
    if (!firstChars.has(line[at])) continue;
    const list = closers.get(line.slice(at, at + width));
    if (list && syntax.mayHug(line.charCodeAt(at - 1)) && syntax.mayFollow(line.charCodeAt(at + width))) {
      list.at.push(at);
    }
  }

  /** The span whose opening marker is at `open`, as the index of its closing marker. */
  function closerFor(open: number): number | undefined {
    const list = closers.get(line.slice(open, open + width));
    const textStart = open + width;
    if (!list || !syntax.mayHug(line.charCodeAt(textStart))) return undefined;
    while (list.next < list.at.length && list.at[list.next]! <= textStart) list.next++;
    return list.at[list.next];
  }

  let out = '';
  let copied = 0;
  let at = 0;
  while (at < line.length) {
    let open = 0;
    let close = at === 0 ? closerFor(0) : undefined;
    if (close === undefined && syntax.mayPrecede(line.charCodeAt(at))) {
      open = at + 1;
      close = closerFor(open);
    }
    if (close === undefined) {
      at++;
      continue;
    }
    out += line.slice(copied, open) + line.slice(open + width, close);
    copied = at = close + width;
  }
  return out + line.slice(copied);
}

function stripMarkdownLine(line: string): string {
  let text = replaceBracketed(line, { open: '![', between: '(', end: ')', minTextLength: 0 }, () => '');
  text = replaceBracketed(text, { open: '![', between: '[', end: ']', minTextLength: 0 }, () => '');
  text = replaceBracketed(text, { open: '[', between: '(', end: ')', minTextLength: 0 }, (linkText) => linkText);
  text = replaceBracketed(text, { open: '[', between: '[', end: ']', minTextLength: 1 }, (linkText) => linkText);
  text = removeTags(removeComments(unwrapAutolinks(text)));
  text = stripHeadingMarkers(stripQuoteMarkers(text));
  if (isRule(text)) return '';
  // Markers must hug the text and not sit inside a word, so snake_case and 2 * 3 survive.
  text = unwrapEmphasis(unwrapEmphasis(unwrapCodeSpans(text), STRONG), EMPHASIS);
  return text.replace(/\\([\\`*_{}[\]()#+\-.!>~|])/g, '$1');
}

const FENCE = /^\s{0,3}(?:```|~~~)/;
const LINK_REFERENCE_DEFINITION = /^\s{0,3}\[(?!\^)[^\]]+\]:\s*\S/;

function stripMarkdown(markdown: string): string {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (FENCE.test(line)) {
      inFence = !inFence;
      continue;
    }
    // Code is kept verbatim: emphasis-like characters in it are code, not markup.
    if (inFence) out.push(line);
    else if (!LINK_REFERENCE_DEFINITION.test(line)) out.push(stripMarkdownLine(line));
  }
  return out.join('\n');
}

/** Line endings become `\n`, trailing whitespace goes, blank-line runs collapse to one, then trim. */
function normalise(text: string): string {
  return normaliseLines(text, (line) => line.trimEnd());
}

/**
 * Turns a source into plain text for chunking: HTML is rendered as text (links without their
 * URLs; images, scripts, styles, navigation and forms dropped), Markdown loses its markup but
 * keeps code and list markers, plain text is kept. Line endings become `\n`, trailing spaces
 * go, blank-line runs collapse to one, and the result is trimmed.
 *
 * Takes time linear in the input for text and Markdown; HTML rendering (html-to-text) is
 * outside our control, so the worker runs this in a thread with a time limit.
 */
export function extractText(raw: string, format: ContentFormat): string {
  switch (format) {
    case 'html':
      return normalise(convert(raw, HTML_OPTIONS));
    case 'markdown':
      return normalise(stripMarkdown(raw.replaceAll('\r\n', '\n').replaceAll('\r', '\n')));
    case 'text':
      return normalise(raw);
  }
}

/** A title longer than this is cut before decoding; a source's title keeps 200 characters anyway. */
const TITLE_MARKUP_MAX = 4096;

/** Index of the first `<tag` (any case) at or after `from` followed by whitespace or `>`, or -1. */
function findOpeningTag(html: string, tag: string, from: number): number {
  for (let lt = html.indexOf('<', from); lt !== -1; lt = html.indexOf('<', lt + 1)) {
    const next = html.charCodeAt(lt + 1 + tag.length);
    if (hasAsciiIgnoringCase(html, lt + 1, tag) && (next === 0x3e || isSpace(next))) return lt;
  }
  return -1;
}

/** Index of the first `</tag\s*>` (any case) at or after `from`, or -1. */
function findClosingTag(html: string, tag: string, from: number): number {
  for (let lt = html.indexOf('</', from); lt !== -1; lt = html.indexOf('</', lt + 2)) {
    if (hasAsciiIgnoringCase(html, lt + 2, tag) && html[skipSpaces(html, lt + 2 + tag.length)] === '>') return lt;
  }
  return -1;
}

/**
 * The document's `<title>`, entities decoded and whitespace collapsed; `undefined` when
 * there is none or it is blank. Runs on the api's thread at upload time, hence the linear
 * scan for the tags and the cap on what is decoded.
 */
export function extractTitleFromHtml(raw: string): string | undefined {
  const open = findOpeningTag(raw, 'title', 0);
  if (open === -1) return undefined;
  const innerStart = raw.indexOf('>', open) + 1;
  if (innerStart === 0) return undefined;
  const close = findClosingTag(raw, 'title', innerStart);
  if (close === -1) return undefined;
  const inner = raw.slice(innerStart, Math.min(close, innerStart + TITLE_MARKUP_MAX));
  const title = convert(inner, { wordwrap: false, limits: { maxDepth: HTML_MAX_DEPTH, ellipsis: '' } })
    .replace(/\s+/g, ' ')
    .trim();
  return title || undefined;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes bytes that must be UTF-8 text; a leading byte-order mark is dropped.
 *
 * @throws UnsupportedContentError when the bytes contain NUL (binary files, and UTF-16
 *   text, which we do not accept) or are not valid UTF-8.
 */
export function decodeUtf8Strict(buf: Buffer): string {
  if (buf.includes(0)) throw new UnsupportedContentError('binary');
  try {
    return utf8Decoder.decode(buf);
  } catch {
    throw new UnsupportedContentError('invalid-utf8');
  }
}
