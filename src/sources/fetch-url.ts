import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { decodeUtf8Strict, UnsupportedContentError } from './extract-text';

export type FetchUrlErrorReason =
  | 'INVALID_URL'
  | 'PRIVATE_ADDRESS'
  | 'HOST_NOT_FOUND'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'HTTP_STATUS'
  | 'TOO_MANY_REDIRECTS'
  | 'TOO_LARGE'
  | 'NOT_TEXT';

/** A URL source could not be read. The message is written for the bot owner who added it. */
export class FetchUrlError extends Error {
  override readonly name = 'FetchUrlError';

  constructor(
    readonly reason: FetchUrlErrorReason,
    message: string,
    /** True when the same request may well succeed later (timeouts, 5xx, 429, network errors). */
    readonly transient = false,
    /** The HTTP status, for `HTTP_STATUS`. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface FetchedText {
  body: string;
  /** The final response's `Content-Type` header as sent, parameters included. */
  contentType: string | undefined;
  /** The URL after redirects. */
  finalUrl: string;
}

export interface UrlFetcher {
  fetchText(url: string): Promise<FetchedText>;
}

export interface UrlFetcherOptions {
  /** Budget for the whole fetch: every redirect hop and the body download. */
  timeoutMillis: number;
  /** Largest body accepted, counted after content decoding (gzip and so on). */
  maxBytes: number;
  /** Skip the address checks; for tests and local development only. */
  allowPrivateHosts: boolean;
  /** Defaults to the global `fetch`. */
  fetchImpl?: typeof fetch;
  /** Resolves a hostname to all its IP addresses. Defaults to `dns.lookup` with `all: true`. */
  lookup?: (hostname: string) => Promise<string[]>;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'ParleyBot/1.0 (+knowledge source import)';

// Everything a server-side request must never reach: this host, the private networks behind
// it, and cloud metadata endpoints (169.254.169.254 lies in link-local).
const blockedAddresses = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blockedAddresses.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible range
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blockedAddresses.addSubnet(network, prefix, 'ipv6');
}

function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blockedAddresses.check(address, 'ipv4');
  if (family !== 6) return true;
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) reaches the IPv4 host, so judge the embedded address.
  const mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i)?.[1];
  if (mapped) return blockedAddresses.check(mapped, 'ipv4');
  return blockedAddresses.check(address, 'ipv6');
}

async function defaultLookup(hostname: string): Promise<string[]> {
  const results = await dnsLookup(hostname, { all: true, verbatim: true });
  return results.map((result) => result.address);
}

function formatSeconds(millis: number): string {
  return `${Number((millis / 1000).toFixed(1))} s`;
}

function formatBytes(bytes: number): string {
  const units: Array<[string, number]> = [
    ['MB', 1024 * 1024],
    ['KB', 1024],
  ];
  for (const [unit, size] of units) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}

function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FetchUrlError('INVALID_URL', 'URL is not valid');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchUrlError('INVALID_URL', 'URL must start with http:// or https://');
  }
  if (url.username || url.password) {
    throw new FetchUrlError('INVALID_URL', 'URL must not contain a user name or password');
  }
  return url;
}

function resolveLocation(location: string, base: URL): string {
  try {
    return new URL(location, base).href;
  } catch {
    throw new FetchUrlError('INVALID_URL', 'URL redirects to an invalid address');
  }
}

function isTimeout(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (error instanceof Error && error.name === 'TimeoutError');
}

/**
 * Reads the body chunk by chunk and stops as soon as it outgrows `maxBytes`, because
 * Content-Length can be absent (chunked) or wrong.
 */
async function readBody(response: Response, maxBytes: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FetchUrlError('TOO_LARGE', `URL content is larger than ${formatBytes(maxBytes)}`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Decodes a body as UTF-8 unless the server names another charset (windows-1252 pages are
 * still common); UTF-16 is refused because its NUL bytes look like binary.
 */
function decodeBody(bytes: Buffer, contentType: string | undefined): string {
  const charset = contentType?.match(/;\s*charset\s*=\s*"?([^";\s]+)/i)?.[1];
  let decoder = charset ? createDecoder(charset) : undefined;
  if (decoder === null) {
    throw new FetchUrlError('NOT_TEXT', `URL content uses an unsupported encoding (${charset})`);
  }
  if (decoder?.encoding === 'utf-8' || decoder?.encoding.startsWith('utf-16')) decoder = undefined;
  try {
    if (!decoder) return decodeUtf8Strict(bytes);
    if (bytes.includes(0)) throw new UnsupportedContentError('binary');
    return decoder.decode(bytes);
  } catch (error: unknown) {
    // TypeError is what a fatal TextDecoder throws on bytes invalid in its encoding.
    if (error instanceof UnsupportedContentError || error instanceof TypeError) {
      throw new FetchUrlError('NOT_TEXT', 'URL content is not text');
    }
    throw error;
  }
}

/** `null` when the label names no encoding that TextDecoder knows. */
function createDecoder(label: string) {
  try {
    return new TextDecoder(label, { fatal: true });
  } catch {
    return null;
  }
}

/**
 * Fetches the text behind a URL a bot owner submitted, defending the server against SSRF:
 * only http(s), at most 5 redirects followed by hand so every hop's host is checked, and
 * unless `allowPrivateHosts`, no hop may resolve to a loopback, private, link-local, CGNAT,
 * multicast or reserved address. Every failure is a `FetchUrlError`.
 *
 * @throws RangeError when `timeoutMillis` or `maxBytes` is not a positive integer.
 *
 * Residual risk: the address check resolves the name, then `fetch` resolves it again, so a
 * DNS-rebinding host can still slip through. Pinning the address needs an undici dispatcher
 * with `connect.lookup`; until then, egress rules on the worker host are the backstop.
 */
export function createUrlFetcher(options: UrlFetcherOptions): UrlFetcher {
  const { timeoutMillis, maxBytes, allowPrivateHosts } = options;
  for (const [name, value] of Object.entries({ timeoutMillis, maxBytes })) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  const fetchImpl = options.fetchImpl ?? fetch;
  const lookup = options.lookup ?? defaultLookup;

  async function assertPublicHost(url: URL): Promise<void> {
    if (allowPrivateHosts) return;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let addresses: string[];
    if (isIP(host)) {
      addresses = [host];
    } else {
      try {
        addresses = await lookup(host);
      } catch (error: unknown) {
        const code = (error as { code?: unknown } | null)?.code;
        // EAI_AGAIN is a resolver hiccup; ENOTFOUND is an answer.
        throw new FetchUrlError('HOST_NOT_FOUND', 'URL host could not be found', code === 'EAI_AGAIN');
      }
    }
    // Any bad address is enough: we do not control which one fetch will connect to.
    if (addresses.length === 0 || addresses.some(isBlockedAddress)) {
      throw new FetchUrlError('PRIVATE_ADDRESS', 'URL points to a private network address');
    }
  }

  async function request(url: URL, signal: AbortSignal): Promise<Response> {
    try {
      return await fetchImpl(url, {
        redirect: 'manual',
        signal,
        headers: {
          accept: 'text/html, text/markdown, text/plain;q=0.9, */*;q=0.1',
          'user-agent': USER_AGENT,
        },
      });
    } catch (error: unknown) {
      if (isTimeout(error, signal)) throw timeoutError();
      throw new FetchUrlError('UNREACHABLE', 'URL could not be reached', true);
    }
  }

  function timeoutError(): FetchUrlError {
    return new FetchUrlError('TIMEOUT', `URL did not answer within ${formatSeconds(timeoutMillis)}`, true);
  }

  async function fetchText(rawUrl: string): Promise<FetchedText> {
    const signal = AbortSignal.timeout(timeoutMillis);
    let url = parseHttpUrl(rawUrl);
    for (let redirects = 0; ; redirects++) {
      await assertPublicHost(url);
      const response = await request(url, signal);
      const location = response.headers.get('location');
      if (REDIRECT_STATUSES.has(response.status) && location) {
        await response.body?.cancel().catch(() => undefined);
        if (redirects === MAX_REDIRECTS) {
          throw new FetchUrlError('TOO_MANY_REDIRECTS', 'URL redirects too many times');
        }
        url = parseHttpUrl(resolveLocation(location, url));
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        const transient = response.status >= 500 || [408, 425, 429].includes(response.status);
        throw new FetchUrlError('HTTP_STATUS', `URL returned HTTP ${response.status}`, transient, response.status);
      }
      const contentLength = Number(response.headers.get('content-length') ?? NaN);
      if (contentLength > maxBytes) {
        await response.body?.cancel().catch(() => undefined);
        throw new FetchUrlError('TOO_LARGE', `URL content is larger than ${formatBytes(maxBytes)}`);
      }
      const contentType = response.headers.get('content-type') ?? undefined;
      let bytes: Buffer;
      try {
        bytes = await readBody(response, maxBytes);
      } catch (error: unknown) {
        if (error instanceof FetchUrlError) throw error;
        if (isTimeout(error, signal)) throw timeoutError();
        throw new FetchUrlError('UNREACHABLE', 'URL connection broke while reading', true);
      }
      return { body: decodeBody(bytes, contentType), contentType, finalUrl: url.href };
    }
  }

  return { fetchText };
}
