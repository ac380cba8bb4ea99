import dns from 'node:dns';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createUrlFetcher, FetchUrlError, type UrlFetcherOptions } from '../../src/sources/fetch-url';

const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);

/** The tests' address policy: the first loopback address is "public", its neighbour is not. */
const ALLOWED = '127.0.0.1';
const REFUSED = '127.0.0.2';

// Nothing in these tests may ask the system resolver: a name that reaches it has escaped
// the stub resolvers (and, for a fetcher that did not pin its addresses, a rebinding check).
const systemLookups: string[] = [];

let server: Server;
let port: number;
let base: string;
/** Requests the main server (on ALLOWED) received, as `host path`. */
const hits: string[] = [];
/** A server on the refused address: any request reaching it is an SSRF. */
let refusedServer: Server;
let refusedPort: number;
const refusedHits: string[] = [];
/** What `/slow.png` managed to write before its connection closed. */
let slowPng: Promise<{ bytesWritten: number; finished: boolean }> | undefined;
const SLOW_PNG_TOTAL_BYTES = 64 * 1024 * 1024;

beforeAll(async () => {
  const realLookup = dns.lookup;
  jest.spyOn(dns, 'lookup').mockImplementation(((hostname: string, ...rest: unknown[]) => {
    // An address literal never leaves the process (server.listen looks its host up too).
    if (isIP(hostname)) return (realLookup as (...args: unknown[]) => void)(hostname, ...rest);
    systemLookups.push(hostname);
    const callback = rest.at(-1) as (error: Error) => void;
    process.nextTick(() => callback(Object.assign(new Error(`system lookup of ${hostname}`), { code: 'ENOTFOUND' })));
  }) as never);

  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://unused');
    const path = url.pathname;
    hits.push(`${req.headers.host} ${req.url}`);
    const hop = path.match(/^\/hop\/(\d+)$/);
    if (path === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('Grüße from Parley');
    } else if (path === '/html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<title>Hi</title><p>Hello</p>');
    } else if (hop) {
      const left = Number(hop[1]);
      // Relative Location headers must resolve against the current hop.
      res.writeHead(left === 0 ? 307 : 302, {
        location: left === 0 ? '/text' : `/hop/${left - 1}`,
      });
      res.end();
    } else if (path === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
    } else if (path === '/loop') {
      res.writeHead(301, { location: '/loop' }).end();
    } else if (path === '/stream-forever') {
      // Chunked, no Content-Length: only counting streamed bytes can stop this.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('x'.repeat(16 * 1024)), 1);
      res.on('close', () => clearInterval(timer));
    } else if (path === '/slow.png') {
      // A big image, streamed slowly; chunked, so no Content-Length can give it away.
      res.writeHead(200, { 'content-type': 'image/png' });
      let bytesWritten = 0;
      const timer = setInterval(() => {
        res.write(Buffer.alloc(16 * 1024));
        bytesWritten += 16 * 1024;
        if (bytesWritten >= SLOW_PNG_TOTAL_BYTES) res.end();
      }, 5);
      slowPng = once(res, 'close').then(() => {
        clearInterval(timer);
        return { bytesWritten, finished: res.writableFinished };
      });
    } else if (path === '/typed' || path === '/notes.md' || path === '/page.html') {
      // Sends `type` as the Content-Type, or none at all without it.
      const type = url.searchParams.get('type');
      res.writeHead(200, type ? { 'content-type': type } : {}).end('# Notes\n\nHello');
    } else if (path === '/declared-huge') {
      // Announces a huge body and then sends nothing: only the header can reject this in time.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(1 << 30) });
      res.flushHeaders();
    } else if (path === '/hang') {
      // Never answers.
    } else if (path === '/binary.txt') {
      // The extension gets it past the type check; its bytes must still be refused.
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(PNG_BYTES);
    } else if (path === '/latin1') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=ISO-8859-1' });
      res.end(Buffer.from('caf\xe9', 'latin1'));
    } else if (path === '/unavailable') {
      res.writeHead(503).end('try later');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  server.listen(0, ALLOWED);
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  base = `http://${ALLOWED}:${port}`;

  refusedServer = createServer((req, res) => {
    refusedHits.push(`${req.headers.host} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('internal secrets');
  });
  refusedServer.listen(0, REFUSED);
  await once(refusedServer, 'listening');
  refusedPort = (refusedServer.address() as AddressInfo).port;
});

beforeEach(() => {
  systemLookups.length = 0;
  hits.length = 0;
  refusedHits.length = 0;
});

afterEach(() => {
  expect(systemLookups).toEqual([]);
});

afterAll(async () => {
  jest.restoreAllMocks();
  for (const s of [server, refusedServer]) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

function localFetcher(overrides: Partial<UrlFetcherOptions> = {}) {
  return createUrlFetcher({
    timeoutMillis: 5_000,
    maxBytes: 64 * 1024,
    allowPrivateHosts: true,
    ...overrides,
  });
}

type Answer = string[] | ((call: number) => string[]);

/**
 * A resolver that answers from `answers` (a function gets the 1-based count of lookups of
 * that name so far) and records every lookup; unknown names are ENOTFOUND.
 */
function stubResolver(answers: Record<string, Answer>) {
  const calls: string[] = [];
  async function lookup(hostname: string): Promise<string[]> {
    calls.push(hostname);
    const answer = answers[hostname];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return typeof answer === 'function' ? answer(calls.filter((name) => name === hostname).length) : answer;
  }
  return { lookup, calls };
}

/** A fetcher whose policy allows ALLOWED (the test server) and nothing else, with stubbed DNS. */
function guardedFetcher(answers: Record<string, Answer> = {}, overrides: Partial<UrlFetcherOptions> = {}) {
  const resolver = stubResolver(answers);
  const fetcher = createUrlFetcher({
    timeoutMillis: 5_000,
    maxBytes: 64 * 1024,
    allowPrivateHosts: false,
    isAllowedAddress: (address) => address === ALLOWED,
    lookup: resolver.lookup,
    ...overrides,
  });
  return { fetcher, calls: resolver.calls };
}

async function fetchError(promise: Promise<unknown>): Promise<FetchUrlError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FetchUrlError);
  return error as FetchUrlError;
}

describe('createUrlFetcher against a local server', () => {
  it('returns the text, content type and final URL of a 200 response', async () => {
    await expect(localFetcher().fetchText(`${base}/text`)).resolves.toEqual({
      body: 'Grüße from Parley',
      contentType: 'text/plain; charset=utf-8',
      finalUrl: `${base}/text`,
      format: 'text',
    });
  });

  it('turns an HTTP error status into a readable error', async () => {
    const error = await fetchError(localFetcher().fetchText(`${base}/missing`));
    expect(error).toMatchObject({
      name: 'FetchUrlError',
      message: 'URL returned HTTP 404',
      reason: 'HTTP_STATUS',
      status: 404,
      transient: false,
    });
  });

  it('marks a 5xx answer as transient', async () => {
    const error = await fetchError(localFetcher().fetchText(`${base}/unavailable`));
    expect(error).toMatchObject({ message: 'URL returned HTTP 503', transient: true });
  });

  it('follows a chain of five redirects and reports where it ended', async () => {
    const result = await localFetcher().fetchText(`${base}/hop/4`);
    expect(result).toMatchObject({ body: 'Grüße from Parley', finalUrl: `${base}/text` });
  });

  it('gives up after five redirects', async () => {
    const error = await fetchError(localFetcher().fetchText(`${base}/hop/5`));
    expect(error).toMatchObject({ reason: 'TOO_MANY_REDIRECTS' });
    const loop = await fetchError(localFetcher().fetchText(`${base}/loop`));
    expect(loop.message).toBe('URL redirects too many times');
  });

  it.each([
    ['ftp://example.com/notes.txt', 'URL must start with http:// or https://'],
    ['http://user:secret@127.0.0.1/text', 'URL must not contain a user name or password'],
    ['http://[oops', 'URL redirects to an invalid address'],
  ])('refuses a redirect to %p', async (location, message) => {
    const error = await fetchError(localFetcher().fetchText(`${base}/redirect?to=${encodeURIComponent(location)}`));
    expect(error).toMatchObject({ reason: 'INVALID_URL', message });
    expect(hits).toHaveLength(1);
  });

  it('stops reading a streamed body once it exceeds maxBytes', async () => {
    const fetcher = localFetcher({ maxBytes: 1024 * 1024, timeoutMillis: 20_000 });
    const error = await fetchError(fetcher.fetchText(`${base}/stream-forever`));
    expect(error).toMatchObject({
      reason: 'TOO_LARGE',
      message: 'URL content is larger than 1 MB',
    });
  });

  it('rejects a declared Content-Length above maxBytes without reading the body', async () => {
    const fetcher = localFetcher({ maxBytes: 1024, timeoutMillis: 20_000 });
    const error = await fetchError(fetcher.fetchText(`${base}/declared-huge`));
    expect(error).toMatchObject({
      reason: 'TOO_LARGE',
      message: 'URL content is larger than 1 KB',
    });
  });

  it('times out on a server that never answers', async () => {
    const error = await fetchError(localFetcher({ timeoutMillis: 200 }).fetchText(`${base}/hang`));
    expect(error).toMatchObject({
      reason: 'TIMEOUT',
      message: 'URL did not answer within 0.2 s',
      transient: true,
    });
  });

  it('refuses bytes that are not text even when the type lets them through', async () => {
    const error = await fetchError(localFetcher().fetchText(`${base}/binary.txt`));
    expect(error).toMatchObject({ reason: 'NOT_TEXT', message: 'URL content is not text' });
  });

  it('honours a declared single-byte charset', async () => {
    await expect(localFetcher().fetchText(`${base}/latin1`)).resolves.toMatchObject({
      body: 'café',
    });
  });

  it('reports an unreachable server as transient', async () => {
    const closed = createServer();
    closed.listen(0, ALLOWED);
    await once(closed, 'listening');
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await fetchError(localFetcher().fetchText(`http://${ALLOWED}:${closedPort}/`));
    expect(error).toMatchObject({ reason: 'UNREACHABLE', transient: true });
  });
});

describe('createUrlFetcher content types', () => {
  it.each([
    ['/typed?type=image/png', 'URL content is image/png, not text: only text, Markdown and HTML pages can be imported'],
    [
      '/typed?type=application/pdf',
      'URL content is application/pdf, not text: only text, Markdown and HTML pages can be imported',
    ],
    [
      '/typed?type=application/octet-stream',
      'URL content is application/octet-stream, not text: only text, Markdown and HTML pages can be imported',
    ],
    ['/typed', 'URL content has no content type: only text, Markdown and HTML pages can be imported'],
  ])('refuses %s from its headers', async (path, message) => {
    const error = await fetchError(localFetcher().fetchText(base + path));
    expect(error).toMatchObject({ reason: 'UNSUPPORTED_TYPE', message, transient: false });
  });

  it.each([
    ['/typed?type=text/markdown; charset=utf-8', 'text/markdown; charset=utf-8', 'markdown'],
    ['/typed?type=application/xhtml%2Bxml', 'application/xhtml+xml', 'html'],
    ['/notes.md', undefined, 'markdown'],
    ['/page.html?type=application/octet-stream', 'application/octet-stream', 'html'],
  ])('accepts %s', async (path, contentType, format) => {
    await expect(localFetcher().fetchText(base + path)).resolves.toEqual({
      body: '# Notes\n\nHello',
      contentType,
      finalUrl: base + path.replaceAll(' ', '%20'),
      format,
    });
  });

  it('refuses an unsupported type before downloading the body, and closes the connection', async () => {
    const error = await fetchError(localFetcher({ maxBytes: 1 << 30 }).fetchText(`${base}/slow.png`));
    expect(error.reason).toBe('UNSUPPORTED_TYPE');
    // The server was still streaming when the fetcher hung up on it.
    const written = await slowPng!;
    expect(written.finished).toBe(false);
    expect(written.bytesWritten).toBeLessThan(SLOW_PNG_TOTAL_BYTES);
  });
});

describe('createUrlFetcher URL checks', () => {
  it.each([{ timeoutMillis: 0 }, { maxBytes: -1 }, { maxBytes: 1.5 }])('rejects options %p', (overrides) => {
    expect(() => localFetcher(overrides)).toThrow(RangeError);
  });

  it.each([
    ['ftp://example.com/file.txt', 'URL must start with http:// or https://'],
    ['file:///etc/passwd', 'URL must start with http:// or https://'],
    ['javascript:alert(1)', 'URL must start with http:// or https://'],
    ['data:text/plain,hello', 'URL must start with http:// or https://'],
    ['not a url', 'URL is not valid'],
    ['http://user:secret@example.com/', 'URL must not contain a user name or password'],
  ])('rejects %p before any lookup or request', async (url, message) => {
    const { fetcher, calls } = guardedFetcher({ 'example.com': [ALLOWED] });
    const error = await fetchError(fetcher.fetchText(url));
    expect(error).toMatchObject({ reason: 'INVALID_URL', message });
    expect(calls).toEqual([]);
  });
});

describe('createUrlFetcher with the default address policy', () => {
  function defaultPolicyFetcher(answers: Record<string, Answer> = {}) {
    return guardedFetcher(answers, { isAllowedAddress: undefined });
  }

  it('rejects the local test server itself', async () => {
    const { fetcher } = defaultPolicyFetcher();
    const error = await fetchError(fetcher.fetchText(`${base}/text`));
    expect(error).toMatchObject({
      reason: 'PRIVATE_ADDRESS',
      message: 'URL points to a private network address',
      transient: false,
    });
    expect(hits).toEqual([]);
  });

  it.each(['[::1]', '2130706433', '0x7f.1', '127.1', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '0.0.0.0'])(
    'rejects the loopback literal %s',
    async (host) => {
      const { fetcher, calls } = defaultPolicyFetcher();
      expect((await fetchError(fetcher.fetchText(`http://${host}:${port}/text`))).reason).toBe('PRIVATE_ADDRESS');
      expect(calls).toEqual([]);
      expect(hits).toEqual([]);
    },
  );

  it.each(['127.0.0.1', '::1', '::ffff:127.0.0.1', '0.0.0.0', '::'])(
    'rejects a hostname that resolves to %s',
    async (address) => {
      const { fetcher } = defaultPolicyFetcher({ 'intranet.example': [address] });
      const error = await fetchError(fetcher.fetchText(`http://intranet.example:${port}/text`));
      expect(error.reason).toBe('PRIVATE_ADDRESS');
      expect(hits).toEqual([]);
    },
  );

  it('allows every address with allowPrivateHosts, still connecting to the address it resolved', async () => {
    const resolver = stubResolver({ 'dev.example': [ALLOWED] });
    const fetcher = localFetcher({ lookup: resolver.lookup });
    await expect(fetcher.fetchText(`http://dev.example:${port}/text`)).resolves.toMatchObject({
      body: 'Grüße from Parley',
    });
    expect(resolver.calls).toEqual(['dev.example']);
  });
});

describe('createUrlFetcher with an address policy and stubbed DNS', () => {
  it('fetches through a hostname whose addresses are all allowed', async () => {
    const { fetcher, calls } = guardedFetcher({ 'docs.example': [ALLOWED] });
    await expect(fetcher.fetchText(`http://docs.example:${port}/text`)).resolves.toEqual({
      body: 'Grüße from Parley',
      contentType: 'text/plain; charset=utf-8',
      finalUrl: `http://docs.example:${port}/text`,
      format: 'text',
    });
    expect(calls).toEqual(['docs.example']);
    // The request went to the pinned address with the URL's own host.
    expect(hits).toEqual([`docs.example:${port} /text`]);
  });

  it('connects to the address it checked, not to a later DNS answer (rebinding)', async () => {
    // Allowed on the first lookup, refused on any later one: a second resolution would end
    // on the refused server (or be refused itself).
    const { fetcher, calls } = guardedFetcher({
      'rebind.example': (call) => (call === 1 ? [ALLOWED] : [REFUSED]),
    });
    await expect(fetcher.fetchText(`http://rebind.example:${port}/text`)).resolves.toMatchObject({
      body: 'Grüße from Parley',
    });
    expect(calls).toEqual(['rebind.example']);
    expect(hits).toEqual([`rebind.example:${port} /text`]);
    expect(refusedHits).toEqual([]);
  });

  it('resolves and checks the host again on each redirect hop', async () => {
    const { fetcher, calls } = guardedFetcher({
      'rebind.example': (call) => (call === 1 ? [ALLOWED] : [REFUSED]),
    });
    const error = await fetchError(fetcher.fetchText(`http://rebind.example:${port}/redirect?to=/text`));
    expect(error.reason).toBe('PRIVATE_ADDRESS');
    expect(calls).toEqual(['rebind.example', 'rebind.example']);
    expect(hits).toEqual([`rebind.example:${port} /redirect?to=/text`]);
  });

  it.each([[[ALLOWED, REFUSED]], [[REFUSED, ALLOWED]], [[ALLOWED, '::1']]])(
    'rejects a hostname when any of its addresses is refused: %p',
    async (addresses) => {
      const { fetcher } = guardedFetcher({ 'mixed.example': addresses });
      const error = await fetchError(fetcher.fetchText(`http://mixed.example:${port}/text`));
      expect(error.reason).toBe('PRIVATE_ADDRESS');
      expect(hits).toEqual([]);
      expect(refusedHits).toEqual([]);
    },
  );

  it('rejects a redirect to a refused address literal', async () => {
    const { fetcher } = guardedFetcher({ 'docs.example': [ALLOWED] });
    const target = `http://${REFUSED}:${refusedPort}/text`;
    const error = await fetchError(
      fetcher.fetchText(`http://docs.example:${port}/redirect?to=${encodeURIComponent(target)}`),
    );
    expect(error.reason).toBe('PRIVATE_ADDRESS');
    expect(hits).toHaveLength(1);
    expect(refusedHits).toEqual([]);
  });

  it('rejects a redirect to a hostname that resolves to a refused address', async () => {
    const { fetcher, calls } = guardedFetcher({ 'docs.example': [ALLOWED], 'evil.example': [REFUSED] });
    const target = `http://evil.example:${refusedPort}/text`;
    const error = await fetchError(
      fetcher.fetchText(`http://docs.example:${port}/redirect?to=${encodeURIComponent(target)}`),
    );
    expect(error.reason).toBe('PRIVATE_ADDRESS');
    expect(calls).toEqual(['docs.example', 'evil.example']);
    expect(refusedHits).toEqual([]);
  });

  it('checks every hop of a redirect chain across hosts', async () => {
    const answers = { 'a.example': [ALLOWED], 'b.example': [ALLOWED], 'c.example': [ALLOWED] };
    const to = (host: string, then: string) => `/redirect?to=${encodeURIComponent(`http://${host}:${port}${then}`)}`;
    const chain = (last: string) => `http://a.example:${port}${to('b.example', to(last, '/text'))}`;

    const { fetcher, calls } = guardedFetcher(answers);
    await expect(fetcher.fetchText(chain('c.example'))).resolves.toMatchObject({
      body: 'Grüße from Parley',
      finalUrl: `http://c.example:${port}/text`,
    });
    expect(calls).toEqual(['a.example', 'b.example', 'c.example']);
    expect(hits.map((hit) => hit.split(' ')[0])).toEqual([
      `a.example:${port}`,
      `b.example:${port}`,
      `c.example:${port}`,
    ]);

    // The same chain with a last hop that resolves to a refused address fails at that hop.
    hits.length = 0;
    const refusing = guardedFetcher({ ...answers, 'c.example': [REFUSED] });
    expect((await fetchError(refusing.fetcher.fetchText(chain('c.example')))).reason).toBe('PRIVATE_ADDRESS');
    expect(refusing.calls).toEqual(['a.example', 'b.example', 'c.example']);
    expect(hits).toHaveLength(2);
    expect(refusedHits).toEqual([]);
  });

  it('reports a hostname that does not resolve', async () => {
    const { fetcher } = guardedFetcher({ 'empty.example': [] });
    for (const host of ['nowhere.example', 'empty.example']) {
      const error = await fetchError(fetcher.fetchText(`https://${host}/`));
      expect(error).toMatchObject({
        reason: 'HOST_NOT_FOUND',
        message: 'URL host could not be found',
        transient: false,
      });
    }
  });

  it('marks a resolver hiccup (EAI_AGAIN) as transient', async () => {
    const { fetcher } = guardedFetcher(
      {},
      {
        lookup: async () => {
          throw Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' });
        },
      },
    );
    const error = await fetchError(fetcher.fetchText('https://docs.example/'));
    expect(error).toMatchObject({ reason: 'HOST_NOT_FOUND', transient: true });
  });

  it('counts a resolver that never answers against the timeout', async () => {
    const { fetcher } = guardedFetcher({}, { timeoutMillis: 200, lookup: () => new Promise<string[]>(() => {}) });
    const error = await fetchError(fetcher.fetchText('https://docs.example/'));
    expect(error).toMatchObject({ reason: 'TIMEOUT', message: 'URL did not answer within 0.2 s', transient: true });
  });

  it('sends the URL host, not the pinned address, as the TLS server name', async () => {
    // No certificate at all: the handshake fails after the client has named the server.
    const serverNames: string[] = [];
    const tlsServer = createTlsServer({
      SNICallback: (servername, callback) => {
        serverNames.push(servername);
        callback(new Error('no certificate here'));
      },
    });
    tlsServer.on('tlsClientError', () => undefined);
    tlsServer.listen(0, ALLOWED);
    await once(tlsServer, 'listening');
    try {
      const tlsPort = (tlsServer.address() as AddressInfo).port;
      const { fetcher, calls } = guardedFetcher({ 'secure.example': [ALLOWED] });
      const error = await fetchError(fetcher.fetchText(`https://secure.example:${tlsPort}/`));
      expect(error).toMatchObject({ reason: 'UNREACHABLE', transient: true });
      expect(calls).toEqual(['secure.example']);
      expect(serverNames).toEqual(['secure.example']);
    } finally {
      await new Promise((resolve) => tlsServer.close(resolve));
    }
  });
});

describe('createUrlFetcher with a caller signal', () => {
  /** What a fetch rejected with; fails the test if it resolved. */
  async function rejection(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
      (value) => {
        throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
      },
      (caught: unknown) => caught,
    );
  }

  /**
   * A server that answers `/partial` with headers and the start of a body, anything else with
   * nothing, and never finishes either: only an abort (or a timeout) ends the fetch.
   */
  async function holdingServer() {
    const closed: Promise<void>[] = [];
    let onRequest!: () => void;
    const requested = new Promise<void>((resolve) => (onRequest = resolve));
    const holding = createServer((req, res) => {
      closed.push(once(res, 'close').then(() => undefined));
      if (req.url === '/partial') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('The first half of a page');
      }
      onRequest();
    });
    holding.listen(0, ALLOWED);
    await once(holding, 'listening');
    return {
      url: `http://${ALLOWED}:${(holding.address() as AddressInfo).port}`,
      requested,
      /** Resolves once every connection the server saw is closed. */
      allClosed: () => Promise.all(closed),
      close: async () => {
        holding.closeAllConnections();
        await new Promise((resolve) => holding.close(resolve));
      },
    };
  }

  it.each(['/waiting', '/partial'])(
    'stops a request in flight (%s) with the caller’s reason, not a timeout, and drops the connection',
    async (path) => {
      const holding = await holdingServer();
      try {
        const controller = new AbortController();
        const fetching = rejection(
          localFetcher({ timeoutMillis: 10_000 }).fetchText(`${holding.url}${path}`, { signal: controller.signal }),
        );
        await holding.requested;
        // A moment for the headers and the first bytes to arrive, so /partial stops mid-body.
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.abort();
        const error = await fetching;
        expect(error).not.toBeInstanceOf(FetchUrlError);
        expect((error as Error).name).toBe('AbortError');
        await holding.allClosed();
      } finally {
        await holding.close();
      }
    },
  );

  it('stops a name lookup that never answers', async () => {
    const { fetcher } = guardedFetcher({}, { timeoutMillis: 10_000, lookup: () => new Promise<string[]>(() => {}) });
    const controller = new AbortController();
    const fetching = rejection(fetcher.fetchText('https://docs.example/', { signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    expect((await fetching) as Error).toMatchObject({ name: 'AbortError' });
  });

  it('rejects with the reason given, without connecting, when the signal has already aborted', async () => {
    const reason = new Error('worker stopping');
    const error = await rejection(localFetcher().fetchText(`${base}/text`, { signal: AbortSignal.abort(reason) }));
    expect(error).toBe(reason);
    expect(hits).toEqual([]);
  });

  it('still reports its own time limit as a TIMEOUT while the caller’s signal has not aborted', async () => {
    const controller = new AbortController();
    const error = await fetchError(
      localFetcher({ timeoutMillis: 200 }).fetchText(`${base}/hang`, { signal: controller.signal }),
    );
    expect(error).toMatchObject({ reason: 'TIMEOUT', message: 'URL did not answer within 0.2 s', transient: true });
    expect(controller.signal.aborted).toBe(false);
  });
});
