import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, fetch, type Response } from 'undici';
import { decodeUtf8Strict, detectFormat, UnsupportedContentError, type ContentFormat } from './extract-text';
import { parseHttpUrl, type HttpUrlProblem } from './http-url';

export type FetchUrlErrorReason =
  | 'INVALID_URL'
  | 'PRIVATE_ADDRESS'
  | 'HOST_NOT_FOUND'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'HTTP_STATUS'
  | 'TOO_MANY_REDIRECTS'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_TYPE'
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

interface FetchedText {
  body: string;
  /** The final response's `Content-Type` header as sent, parameters included. */
  contentType: string | undefined;
  /** The URL after redirects. */
  finalUrl: string;
  /** How to extract the body's text, from the content type (or the path's extension). */
  format: ContentFormat;
}

interface FetchTextOptions {
  /**
   * Stops the fetch wherever it is (name lookup, connection, body download) when it aborts;
   * the fetch then rejects with the signal's reason, not with a `FetchUrlError`. None by default.
   */
  signal?: AbortSignal;
}

export interface UrlFetcher {
  fetchText(url: string, options?: FetchTextOptions): Promise<FetchedText>;
}

export interface UrlFetcherOptions {
  /** Budget for the whole fetch: every hop's name lookup and request, and the body download. */
  timeoutMillis: number;
  /** Largest body accepted, counted after content decoding (gzip and so on). */
  maxBytes: number;
  /**
   * Allow every address, loopback and private networks included; for local development only.
   * Ignored when `isAllowedAddress` is given.
   */
  allowPrivateHosts: boolean;
  /**
   * Decides whether an IP address (as written in the URL or as resolved) may be contacted.
   * Defaults to `isPublicAddress`, or to allowing every address when `allowPrivateHosts`.
   */
  isAllowedAddress?: (address: string) => boolean;
  /** Resolves a hostname to all its IP addresses. Defaults to `dns.lookup` with `all: true`. */
  lookup?: (hostname: string) => Promise<string[]>;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'ParleyBot/1.0 (+knowledge source import)';

const URL_PROBLEM_MESSAGES: Record<HttpUrlProblem, string> = {
  NOT_A_URL: 'URL is not valid',
  NOT_HTTP: 'URL must start with http:// or https://',
  HAS_CREDENTIALS: 'URL must not contain a user name or password',
};

// IANA's global unicast allocation. Everything outside it is special-purpose or unassigned, yet
// ipaddr.js calls some of it `unicast`: the deprecated IPv4-compatible ::a.b.c.d (::/96), which
// reaches IPv4 hosts (::7f00:1 is 127.0.0.1), and unassigned space such as 1::/16.
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * True when `address` is an IP address on the public internet: ipaddr.js classifies it as
 * `unicast` (not loopback, private, link-local, carrier-grade NAT, multicast, broadcast,
 * documentation, benchmarking or otherwise reserved). IPv4-mapped IPv6 (::ffff:a.b.c.d) is
 * judged by its IPv4 address. Other IPv6 forms that embed an IPv4 address (NAT64 64:ff9b::/96
 * and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32, ::ffff:0:a.b.c.d) are refused: they
 * can reach an internal IPv4 host through a translator or relay. So is an address with a zone
 * id, which only means something on a local link.
 */
export function isPublicAddress(address: string): boolean {
  // isIP first: ipaddr.js also accepts inet_aton forms such as 2130706433, which no resolver returns.
  if (!isIP(address)) return false;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return parsed.range() === 'unicast';
  const ipv6 = parsed as ipaddr.IPv6;
  if (ipv6.isIPv4MappedAddress()) return ipv6.toIPv4Address().range() === 'unicast';
  return ipv6.zoneId === undefined && ipv6.match(IPV6_GLOBAL_UNICAST) && ipv6.range() === 'unicast';
}

async function defaultLookup(hostname: string): Promise<string[]> {
  const results = await dnsLookup(hostname, { all: true, verbatim: true });
  return results.map((result) => result.address);
}

/**
 * An agent that connects only to `addresses`, already resolved and checked: the lookup it
 * hands to `net.connect` answers with them instead of asking DNS again, so the name cannot
 * answer differently between the check and the connection (DNS rebinding). Only the lookup
 * changes, so TLS still sends the URL's host as SNI and verifies the certificate against it.
 */
function createPinnedAgent(addresses: readonly [string, ...string[]]): Agent {
  const pinned = addresses.map((address) => ({ address, family: isIP(address) }));
  const lookup: LookupFunction = (_hostname, options, callback) => {
    // Node 20 asks for `all` when it tries several addresses (autoSelectFamily).
    if (options.all) callback(null, pinned);
    else callback(null, addresses[0], isIP(addresses[0]));
  };
  return new Agent({ connect: { lookup } });
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

/** The URL to fetch, or for a redirect's `Location`, the URL it leads to from `redirectedFrom`. */
function requireFetchableUrl(raw: string, redirectedFrom?: URL): URL {
  const parsed = parseHttpUrl(raw, redirectedFrom);
  if (parsed.ok) return parsed.url;
  const message =
    redirectedFrom && parsed.problem === 'NOT_A_URL'
      ? 'URL redirects to an invalid address'
      : URL_PROBLEM_MESSAGES[parsed.problem];
  throw new FetchUrlError('INVALID_URL', message);
}

function isTimeout(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (error instanceof Error && error.name === 'TimeoutError');
}

/** `promise`, or a rejection as soon as `signal` aborts (the promise itself runs on). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
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

function unsupportedTypeError(contentType: string | undefined): FetchUrlError {
  // The media type comes from the remote server: cut it short before it reaches the owner's screen.
  const mediaType = contentType?.split(';')[0]?.trim().slice(0, 100);
  const found = mediaType ? `is ${mediaType}, not text` : 'has no content type';
  return new FetchUrlError(
    'UNSUPPORTED_TYPE',
    `URL content ${found}: only text, Markdown and HTML pages can be imported`,
  );
}

/**
 * Fetches the text behind a URL a bot owner submitted, defending the server against SSRF:
 * only http(s), and at most 5 redirects, followed by hand. For every hop the host is resolved
 * once, every address it resolves to must pass `isAllowedAddress` (by default: public unicast
 * only, see `isPublicAddress`), and the connection is pinned to those checked addresses, so
 * a second DNS answer (rebinding) is never used. Unsupported content types (anything but
 * text, Markdown and HTML, by `detectFormat`) are refused from the headers, before any of the
 * body is read. Every failure is a `FetchUrlError`, except an abort by the caller's `signal`,
 * which rejects with the signal's reason (an `AbortError` unless the caller gave another), as
 * `fetch` does: the caller stopped it, so it is no fault of the URL's and never a `TIMEOUT`.
 *
 * @throws RangeError when `timeoutMillis` or `maxBytes` is not a positive integer.
 */
export function createUrlFetcher(options: UrlFetcherOptions): UrlFetcher {
  const { timeoutMillis, maxBytes, allowPrivateHosts } = options;
  for (const [name, value] of Object.entries({ timeoutMillis, maxBytes })) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  const lookup = options.lookup ?? defaultLookup;
  const isAllowedAddress = options.isAllowedAddress ?? (allowPrivateHosts ? () => true : isPublicAddress);

  function timeoutError(): FetchUrlError {
    return new FetchUrlError('TIMEOUT', `URL did not answer within ${formatSeconds(timeoutMillis)}`, true);
  }

  /** Resolves the hop's host once; the addresses returned are the only ones it may connect to. */
  async function resolveAllowed(url: URL, signal: AbortSignal): Promise<[string, ...string[]]> {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let addresses: string[];
    if (isIP(host)) {
      addresses = [host];
    } else {
      try {
        addresses = await unlessAborted(lookup(host), signal);
      } catch (error: unknown) {
        if (signal.aborted) throw timeoutError();
        const code = (error as { code?: unknown } | null)?.code;
        // EAI_AGAIN is a resolver hiccup; ENOTFOUND is an answer.
        throw new FetchUrlError('HOST_NOT_FOUND', 'URL host could not be found', code === 'EAI_AGAIN');
      }
    }
    const [first, ...rest] = addresses;
    if (first === undefined) throw new FetchUrlError('HOST_NOT_FOUND', 'URL host could not be found');
    // All must pass: the connection may try any of them (and falls back from one to the next).
    if (!addresses.every((address) => isAllowedAddress(address))) {
      throw new FetchUrlError('PRIVATE_ADDRESS', 'URL points to a private network address');
    }
    return [first, ...rest];
  }

  async function request(url: URL, dispatcher: Agent, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(url, {
        dispatcher,
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

  /** Checks a final (non-redirect) response's status and headers, then reads and decodes its body. */
  async function readText(url: URL, response: Response, signal: AbortSignal): Promise<FetchedText> {
    if (!response.ok) {
      await discardBody(response);
      const transient = response.status >= 500 || [408, 425, 429].includes(response.status);
      throw new FetchUrlError('HTTP_STATUS', `URL returned HTTP ${response.status}`, transient, response.status);
    }
    const contentType = response.headers.get('content-type') ?? undefined;
    const format = detectFormat({ contentType, filename: url.pathname });
    if (!format) {
      await discardBody(response);
      throw unsupportedTypeError(contentType);
    }
    const contentLength = Number(response.headers.get('content-length') ?? NaN);
    if (contentLength > maxBytes) {
      await discardBody(response);
      throw new FetchUrlError('TOO_LARGE', `URL content is larger than ${formatBytes(maxBytes)}`);
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(response, maxBytes);
    } catch (error: unknown) {
      if (error instanceof FetchUrlError) throw error;
      if (isTimeout(error, signal)) throw timeoutError();
      throw new FetchUrlError('UNREACHABLE', 'URL connection broke while reading', true);
    }
    return { body: decodeBody(bytes, contentType), contentType, finalUrl: url.href, format };
  }

  async function fetchText(rawUrl: string, fetchOptions: FetchTextOptions = {}): Promise<FetchedText> {
    const { signal: callerSignal } = fetchOptions;
    callerSignal?.throwIfAborted();
    const timeout = AbortSignal.timeout(timeoutMillis);
    // One signal for every step below; the steps report any abort as a timeout, and the catch
    // at the end tells the caller's abort apart.
    const signal = callerSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
    try {
      let url = requireFetchableUrl(rawUrl);
      for (let redirects = 0; ; redirects++) {
        const agent = createPinnedAgent(await resolveAllowed(url, signal));
        try {
          const response = await request(url, agent, signal);
          const location = response.headers.get('location');
          if (!REDIRECT_STATUSES.has(response.status) || !location) return await readText(url, response, signal);
          await discardBody(response);
          if (redirects === MAX_REDIRECTS) {
            throw new FetchUrlError('TOO_MANY_REDIRECTS', 'URL redirects too many times');
          }
          url = requireFetchableUrl(location, url);
        } finally {
          // One agent per hop: the next hop is resolved, checked and pinned afresh.
          await agent.destroy().catch(() => undefined);
        }
      }
    } catch (error: unknown) {
      // Stopped by the caller (a worker shutting down, say): the URL did nothing wrong, so this
      // must not reach the owner as "did not answer within …".
      if (callerSignal?.aborted) throw callerSignal.reason;
      throw error;
    }
  }

  return { fetchText };
}
