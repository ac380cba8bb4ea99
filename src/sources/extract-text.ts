import { convert, type HtmlToTextOptions } from 'html-to-text';

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
  return filename?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
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

const HTML_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
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

const FENCE = /^\s{0,3}(```|~~~)/;

function stripMarkdownLine(line: string): string {
  return (
    line
      .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
      .replace(/!\[[^\]]*\]\[[^\]]*\]/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/\[([^\]]+)\]\[[^\]]*\]/g, '$1')
      .replace(/<((?:https?|mailto):[^>\s]+)>/gi, '$1')
      .replace(/<!--.*?-->/g, '')
      .replace(/<\/?[a-z][^>]*>/gi, '')
      .replace(/^\s{0,3}(?:>\s?)+/, '')
      .replace(/^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/, '$1')
      .replace(/^\s{0,3}(?:[-*_=]\s*){3,}$/, '')
      .replace(/`+([^`]+)`+/g, '$1')
      // Markers must hug the text and not sit inside a word, so snake_case and 2 * 3 survive.
      .replace(/(^|[^\w\\])(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\2(?!\w)/g, '$1$3')
      .replace(/(^|[^\w\\*])([*_])(?=[^\s*])(.+?)(?<=[^\s*])\2(?![\w*])/g, '$1$3')
      .replace(/\\([\\`*_{}[\]()#+\-.!>~|])/g, '$1')
  );
}

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
    else if (!/^\s{0,3}\[(?!\^)[^\]]+\]:\s*\S+/.test(line)) out.push(stripMarkdownLine(line));
  }
  return out.join('\n');
}

function normalise(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * Turns a source into plain text for chunking: HTML is rendered as text (links without their
 * URLs; images, scripts, styles, navigation and forms dropped), Markdown loses its markup but
 * keeps code and list markers, plain text is kept. Line endings become `\n`, trailing spaces
 * go, blank-line runs collapse to one, and the result is trimmed.
 */
export function extractText(raw: string, format: ContentFormat): string {
  switch (format) {
    case 'html':
      return normalise(convert(raw, HTML_OPTIONS));
    case 'markdown':
      return normalise(stripMarkdown(raw.replace(/\r\n?/g, '\n')));
    case 'text':
      return normalise(raw);
  }
}

/**
 * The document's `<title>`, entities decoded and whitespace collapsed; `undefined` when
 * there is none or it is blank.
 */
export function extractTitleFromHtml(raw: string): string | undefined {
  const inner = raw.match(/<title(?:\s[^>]*)?>([\s\S]*?)<\/title\s*>/i)?.[1];
  if (inner === undefined) return undefined;
  const title = convert(inner, { wordwrap: false }).replace(/\s+/g, ' ').trim();
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
