import type { Access } from '../auth/access';
import { BadUserInputError } from '../core/errors';
import { newId } from '../core/ids';
import type { Loaders } from '../loaders/create-loaders';
import type { SourceKind, SourceRecord } from '../repos/records';
import type { NewSource, SourcesRepo } from '../repos/sources';
import type { CacheInvalidation } from '../cache/invalidation';
import { requireText } from '../core/validation';
import { decodeUtf8Strict, detectFormat, extractTitleFromHtml, UnsupportedContentError } from './extract-text';
import { parseHttpUrl, type HttpUrlProblem } from './http-url';

const TITLE_MAX = 200;
const TEXT_MAX = 1_000_000;
const URL_MAX = 2048;

export interface CreateSourceInput {
  botId: string;
  kind: SourceKind;
  title: string;
  text?: string | null;
  url?: string | null;
}

export interface UploadedFile {
  filename: string;
  contentType: string | undefined;
  data: Buffer;
}

function requireHttpUrl(raw: string): string {
  const parsed = parseHttpUrl(requireText(raw, 'url', { max: URL_MAX }));
  if (parsed.ok) return parsed.url.toString();
  const messages: Record<HttpUrlProblem, string> = {
    NOT_A_URL: 'url must be an absolute http(s) URL, e.g. https://example.com/faq.',
    NOT_HTTP: 'url must start with http:// or https://.',
    HAS_CREDENTIALS: 'url must not contain credentials.',
  };
  throw new BadUserInputError(messages[parsed.problem], 'url');
}

/** The title sent with the upload, else an HTML page's own <title>, else the file name. */
function titleOf(sent: string | undefined, filename: string, html: string | undefined): string {
  if (sent?.trim()) return sent;
  const pageTitle = html === undefined ? undefined : extractTitleFromHtml(html);
  // Only a title the owner typed can be too long; a derived one is cut to fit.
  return [...(pageTitle || filename || 'Untitled file')].slice(0, TITLE_MAX).join('');
}

export type SourceService = ReturnType<typeof createSourceService>;

/** Creates and removes sources; the worker turns PENDING ones into searchable chunks. */
export function createSourceService(deps: {
  sources: SourcesRepo;
  access: Access;
  loaders: Loaders;
  invalidation: CacheInvalidation;
}) {
  const { access } = deps;
  /** Stores a new source, then tells the cache its bot's source list changed. */
  const store = async (source: NewSource): Promise<SourceRecord> => {
    const created = await deps.sources.create(source);
    await deps.invalidation.sourceCreated(created);
    return created;
  };
  return {
    get: (id: string) => access.ownedSource(id),

    listByBot: (botId: string) => deps.loaders.sourcesByBot.load(botId),

    async create(input: CreateSourceInput): Promise<SourceRecord> {
      const bot = await access.ownedBot(input.botId);
      const title = requireText(input.title, 'title', { max: TITLE_MAX });
      switch (input.kind) {
        case 'TEXT': {
          if (input.url != null) throw new BadUserInputError('url is only for URL sources.', 'url');
          if (input.text == null) throw new BadUserInputError('text is required for a TEXT source.', 'text');
          const text = requireText(input.text, 'text', { max: TEXT_MAX });
          return store({
            id: newId(),
            botId: bot.id,
            kind: 'TEXT',
            title,
            content: text,
            contentFormat: 'text',
          });
        }
        case 'URL': {
          if (input.text != null) throw new BadUserInputError('text is only for TEXT sources.', 'text');
          if (input.url == null) throw new BadUserInputError('url is required for a URL source.', 'url');
          return store({
            id: newId(),
            botId: bot.id,
            kind: 'URL',
            title,
            url: requireHttpUrl(input.url),
          });
        }
        case 'FILE':
          throw new BadUserInputError('FILE sources are uploaded with POST /uploads (multipart: botId, file).', 'kind');
      }
    },

    /** A FILE source from an upload: plain text, Markdown or HTML, as UTF-8. */
    async createFromUpload(botId: string, file: UploadedFile, title?: string): Promise<SourceRecord> {
      const bot = await access.ownedBot(botId);
      const format = detectFormat({ contentType: file.contentType, filename: file.filename });
      if (!format) {
        throw new BadUserInputError(
          'Unsupported file type: upload plain text (.txt), Markdown (.md) or HTML (.html).',
          'file',
        );
      }
      let content: string;
      try {
        content = decodeUtf8Strict(file.data);
      } catch (error: unknown) {
        if (error instanceof UnsupportedContentError) {
          throw new BadUserInputError('The file is not UTF-8 text: upload plain text, Markdown or HTML.', 'file');
        }
        throw error;
      }
      if (content.trim() === '') throw new BadUserInputError('The file is empty.', 'file');
      return store({
        id: newId(),
        botId: bot.id,
        kind: 'FILE',
        title: requireText(titleOf(title, file.filename, format === 'html' ? content : undefined), 'title', {
          max: TITLE_MAX,
        }),
        content,
        contentFormat: format,
        filename: file.filename,
      });
    },

    async delete(id: string): Promise<boolean> {
      const source = await access.ownedSource(id);
      const deleted = await deps.sources.delete(source.id);
      await deps.invalidation.sourceDeleted(source);
      deps.loaders.source.clear(source.id);
      return deleted;
    },
  };
}
