import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createUrlFetcher, FetchUrlError, type UrlFetcherOptions } from '../../src/sources/fetch-url';

const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
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
    } else if (path === '/loop') {
      res.writeHead(301, { location: '/loop' }).end();
    } else if (path === '/stream-forever') {
      // Chunked, no Content-Length: only counting streamed bytes can stop this.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('x'.repeat(16 * 1024)), 1);
      res.on('close', () => clearInterval(timer));
    } else if (path === '/declared-huge') {
      // Announces a huge body and then sends nothing: only the header can reject this in time.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(1 << 30) });
      res.flushHeaders();
    } else if (path === '/hang') {
      // Never answers.
    } else if (path === '/binary') {
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function localFetcher(overrides: Partial<UrlFetcherOptions> = {}) {
  return createUrlFetcher({
    timeoutMillis: 5_000,
    maxBytes: 64 * 1024,
    allowPrivateHosts: true,
    ...overrides,
  });
}

/** A fetch that never touches the network, recording the URLs it was asked for. */
function fakeFetch(respond: (url: string) => Response) {
  const urls: string[] = [];
  const fetchImpl = (async (input: string | URL | Request) => {
    const url = input instanceof Request ? input.url : String(input);
    urls.push(url);
    return respond(url);
  }) as typeof fetch;
  return { fetchImpl, urls };
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

  it('refuses binary content', async () => {
    const error = await fetchError(localFetcher().fetchText(`${base}/binary`));
    expect(error).toMatchObject({ reason: 'NOT_TEXT', message: 'URL content is not text' });
  });

  it('honours a declared single-byte charset', async () => {
    await expect(localFetcher().fetchText(`${base}/latin1`)).resolves.toMatchObject({
      body: 'café',
    });
  });

  it('reports an unreachable server as transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await fetchError(localFetcher().fetchText(`http://127.0.0.1:${port}/`));
    expect(error).toMatchObject({ reason: 'UNREACHABLE', transient: true });
  });
});

describe('createUrlFetcher URL checks', () => {
  it.each([{ timeoutMillis: 0 }, { maxBytes: -1 }, { maxBytes: 1.5 }])('rejects options %p', (overrides) => {
    expect(() => localFetcher(overrides)).toThrow(RangeError);
  });

  it.each([
    'ftp://example.com/file.txt',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'data:text/plain,hello',
    'not a url',
    'http://user:secret@example.com/',
  ])('rejects %p before any request', async (url) => {
    const { fetchImpl, urls } = fakeFetch(() => new Response('should not be fetched'));
    const error = await fetchError(localFetcher({ fetchImpl }).fetchText(url));
    expect(error.reason).toBe('INVALID_URL');
    expect(urls).toEqual([]);
  });
});

describe('createUrlFetcher with private hosts disallowed', () => {
  const PUBLIC_ADDRESS = '93.184.216.34';

  function guardedFetcher(
    addresses: Record<string, string[]>,
    respond: (url: string) => Response = () => new Response('public page'),
  ) {
    const fake = fakeFetch(respond);
    const fetcher = createUrlFetcher({
      timeoutMillis: 1_000,
      maxBytes: 1024,
      allowPrivateHosts: false,
      fetchImpl: fake.fetchImpl,
      lookup: async (hostname) => {
        const found = addresses[hostname];
        if (!found)
          throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
            code: 'ENOTFOUND',
          });
        return found;
      },
    });
    return { fetcher, urls: fake.urls };
  }

  it('rejects the local test server itself', async () => {
    const { fetcher, urls } = guardedFetcher({});
    const error = await fetchError(fetcher.fetchText(`${base}/text`));
    expect(error).toMatchObject({
      reason: 'PRIVATE_ADDRESS',
      message: 'URL points to a private network address',
    });
    expect(urls).toEqual([]);
  });

  it.each([
    'http://[::1]/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:10.0.0.1]/',
  ])('rejects the address literal in %p', async (url) => {
    const { fetcher, urls } = guardedFetcher({});
    expect((await fetchError(fetcher.fetchText(url))).reason).toBe('PRIVATE_ADDRESS');
    expect(urls).toEqual([]);
  });

  it.each([
    '10.0.0.5',
    '127.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'ff02::1',
    '::ffff:10.0.0.5',
    '::ffff:a00:5',
    '::ffff:169.254.169.254',
  ])('rejects a hostname that resolves to %s', async (address) => {
    const { fetcher, urls } = guardedFetcher({ 'intranet.example': [address] });
    const error = await fetchError(fetcher.fetchText('http://intranet.example/wiki'));
    expect(error.reason).toBe('PRIVATE_ADDRESS');
    expect(urls).toEqual([]);
  });

  it('rejects a hostname when any of its addresses is private', async () => {
    const { fetcher } = guardedFetcher({ 'mixed.example': [PUBLIC_ADDRESS, '10.0.0.5'] });
    const error = await fetchError(fetcher.fetchText('https://mixed.example/'));
    expect(error.reason).toBe('PRIVATE_ADDRESS');
  });

  it('fetches a hostname that resolves to public addresses only', async () => {
    const { fetcher, urls } = guardedFetcher({
      'docs.example': [PUBLIC_ADDRESS, '2606:2800:220:1:248:1893:25c8:1946', '172.32.0.1'],
    });
    await expect(fetcher.fetchText('https://docs.example/faq')).resolves.toMatchObject({
      body: 'public page',
    });
    expect(urls).toEqual(['https://docs.example/faq']);
  });

  it('checks every redirect hop', async () => {
    const { fetcher, urls } = guardedFetcher({ 'docs.example': [PUBLIC_ADDRESS] }, () =>
      Response.redirect('http://169.254.169.254/latest/meta-data/', 302),
    );
    const error = await fetchError(fetcher.fetchText('https://docs.example/start'));
    expect(error.reason).toBe('PRIVATE_ADDRESS');
    expect(urls).toEqual(['https://docs.example/start']);
  });

  it('reports a hostname that does not resolve', async () => {
    const { fetcher } = guardedFetcher({});
    const error = await fetchError(fetcher.fetchText('https://nowhere.example/'));
    expect(error).toMatchObject({ reason: 'HOST_NOT_FOUND', transient: false });
  });
});
