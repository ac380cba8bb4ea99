import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type {
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
} from 'fastify';
import { EXAMPLE_TABS } from './playground-examples';
import { escapeHtml } from './html';

/**
 * GraphiQL on `GET /graphql` for browsers, outside production. Everything the page needs is
 * in the one HTML document, built from the project's own dependencies: GraphiQL's JS, CSS
 * and Monaco workers from `@graphql-yoga/render-graphiql`, the graphql-ws client from
 * `graphql-ws`. It works with no internet, and its Content-Security-Policy lets the browser
 * prove it: scripts, styles, fonts and images only from this server or inline, requests only
 * to this server (HTTP and WebSocket).
 *
 * The page is ours rather than `renderGraphiQL(options)`'s because that one serialises its
 * options as JSON, so it cannot take a fetcher, and its built-in fetcher sends GraphiQL's
 * headers over HTTP only: a subscription's `connection_init` would carry no token. Our fetcher
 * sends the headers editor's contents as HTTP headers, and as the `connection_init` payload
 * of a WebSocket opened for each subscription (graphql-transport-ws, same URL), which is
 * where src/http/websocket.ts reads `authorization`.
 */

/**
 * The GraphiQL options the page sets, as @graphql-yoga/render-graphiql's page passes them.
 * Declared here: importing that package's types would pull graphql-yoga's global type
 * augmentations (the DOM library, GraphQLErrorExtensions) into the whole program.
 */
interface GraphiQLOptions {
  title: string;
  defaultTabs: { query: string; variables?: string; headers?: string }[];
  defaultHeaders: string;
  defaultEditorToolsVisibility: boolean | 'headers' | 'variables';
  shouldPersistHeaders: boolean;
}

/** The endpoint the page's fetcher talks to, relative to the page. */
const GRAPHQL_PATH = '/graphql';

const PAGE_OPTIONS: GraphiQLOptions = {
  title: 'Parley',
  defaultTabs: EXAMPLE_TABS,
  // A placeholder that shows where the token goes; tabs without headers of their own show it.
  defaultHeaders: JSON.stringify({ authorization: 'Bearer <token>' }, null, 2),
  // The first thing to do after LogIn is to paste the token there.
  defaultEditorToolsVisibility: 'headers',
  // Tokens stay out of localStorage: a reload asks for the token again.
  shouldPersistHeaders: false,
};

/**
 * The browser side: a GraphiQL fetcher. Queries and mutations are POSTed as JSON (Apollo's
 * CSRF prevention lets JSON through); a subscription gets its own graphql-ws client, so its
 * socket carries exactly the headers shown when it started, and is closed when it ends.
 */
const FETCHER_SCRIPT = `
const endpoint = new URL(${JSON.stringify(GRAPHQL_PATH)}, location.href).href;
const socketEndpoint = endpoint.replace(/^http/, 'ws');

function isSubscription(documentAST, operationName) {
  const operations = (documentAST?.definitions ?? []).filter((d) => d.kind === 'OperationDefinition');
  const operation = operationName ? operations.find((d) => d.name?.value === operationName) : operations[0];
  return operation?.operation === 'subscription';
}

// graphql-ws fails with an Error, a list of GraphQL errors, or the socket's close/error event.
function subscriptionError(error) {
  if (error instanceof Error || Array.isArray(error)) return error;
  if (error && typeof error.code === 'number') {
    return new Error('WebSocket closed: ' + error.code + (error.reason ? ' ' + error.reason : ''));
  }
  return new Error('WebSocket error: could not reach ' + socketEndpoint);
}

function subscribeOverWebSocket(params, connectionParams) {
  return {
    subscribe(sink) {
      const client = graphqlWs.createClient({ url: socketEndpoint, connectionParams, lazy: true, retryAttempts: 0 });
      const unsubscribe = client.subscribe(params, {
        next: (value) => sink.next(value),
        error: (error) => {
          sink.error(subscriptionError(error));
          client.dispose();
        },
        complete: () => {
          sink.complete();
          client.dispose();
        },
      });
      return {
        unsubscribe() {
          unsubscribe();
          client.dispose();
        },
      };
    },
  };
}

async function fetchOverHttp(params, headers) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('HTTP ' + response.status + ': ' + text.slice(0, 500));
  }
}

async function parleyFetcher(params, options) {
  const headers = options?.headers ?? {};
  return isSubscription(options?.documentAST, params.operationName)
    ? subscribeOverWebSocket(params, headers)
    : fetchOverHttp(params, headers);
}
`;

/** JSON that is safe inside a <script> element (no `</script>`, no `<!--`). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

async function graphqlWsBrowserClient(): Promise<string> {
  // The UMD build (global `graphqlWs`) is not in graphql-ws' export map; its package.json is.
  const packageDir = dirname(require.resolve('graphql-ws/package.json'));
  return readFile(join(packageDir, 'umd', 'graphql-ws.min.js'), 'utf8');
}

/** The whole page, about 9 MB (GraphiQL with Monaco and its three workers, inlined). */
async function renderPlaygroundPage(): Promise<string> {
  // Loaded on first use: 9 MB of strings that production never needs.
  const graphiql = await import('@graphql-yoga/render-graphiql/graphiql');
  const graphqlWs = await graphqlWsBrowserClient();
  // The same start-up as renderGraphiQL's page (Monaco's workers from blob: URLs), with our
  // fetcher. graphql-ws comes first: GraphiQL's bundle may define an AMD `define`, which
  // would keep the UMD client from setting its global.
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(PAGE_OPTIONS.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${graphiql.favicon}" />
    <style>
      ${graphiql.css}
    </style>
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script>
      ${graphqlWs}
    </script>
    <script>
      function prepareBlob(workerContent) {
        const blob = new Blob([workerContent], { type: 'application/javascript' });
        return URL.createObjectURL(blob);
      }
      const workers = {
        editorWorkerService: prepareBlob(${scriptJson(graphiql.editorWorkerService)}),
        json: prepareBlob(${scriptJson(graphiql.jsonWorker)}),
        graphql: prepareBlob(${scriptJson(graphiql.graphqlWorker)}),
      };
      self['MonacoEnvironment'] = {
        globalAPI: false,
        getWorkerUrl: function (moduleId, label) {
          return workers[label];
        },
      };
      ${graphiql.js};
      ${FETCHER_SCRIPT}
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), {
        ...${scriptJson(PAGE_OPTIONS)},
        fetcher: parleyFetcher,
      });
    </script>
  </body>
</html>
`;
}

/**
 * The page may load and run only what comes from this server or is inline; it may talk only
 * to this server. `'self'` covers ws: and wss: of the same host in CSP 3 browsers; they are
 * named too for the others. Monaco's workers start from blob: URLs the page makes itself.
 */
export function playgroundContentSecurityPolicy(host: string | undefined): string {
  // The Host header is the client's to choose: only a plain host[:port] goes into the policy.
  const sockets = host && /^(?:[\w.-]+|\[[\d.:a-f]+\])(?::\d{1,5})?$/i.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    `connect-src 'self'${sockets}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

interface MediaType {
  type: string;
  subtype: string;
  params: Map<string, string>;
  /** Quality, for a range of an Accept header. */
  q: number;
}

function parseMediaType(text: string): MediaType | undefined {
  const [range = '', ...pieces] = text.split(';');
  const match = /^\s*([^\s/]+)\/([^\s/]+)\s*$/.exec(range.toLowerCase());
  if (!match) return undefined;
  const params = new Map<string, string>();
  let q = 1;
  for (const piece of pieces) {
    const [key = '', value = ''] = piece.split('=').map((part) => part.trim().toLowerCase());
    if (key === 'q') q = parseFloat(value);
    else params.set(key, value.replace(/^"(.*)"$/, '$1'));
  }
  return { type: match[1]!, subtype: match[2]!, params, q: Number.isFinite(q) ? q : 0 };
}

/** How closely `range` names `offer` (negotiator's score: type 4, subtype 2, parameters 1), -1 if not at all. */
function specificity(range: MediaType, offer: MediaType): number {
  if (range.type !== offer.type && range.type !== '*') return -1;
  if (range.subtype !== offer.subtype && range.subtype !== '*') return -1;
  for (const [key, value] of range.params) {
    if (value !== '*' && value !== (offer.params.get(key) ?? '')) return -1;
  }
  return (range.type === offer.type ? 4 : 0) | (range.subtype === offer.subtype ? 2 : 0) | (range.params.size ? 1 : 0);
}

/** What Apollo Server weighs against each other for a GET, in its order (`prefersHTML`). */
const APOLLO_OFFERS = [
  'application/json; charset=utf-8',
  'application/graphql-response+json; charset=utf-8',
  'multipart/mixed; deferSpec=20220824',
  'multipart/mixed; incrementalSpec=v0.2',
  'multipart/mixed',
  'text/html',
].map((offer) => parseMediaType(offer)!);
const HTML_OFFER = APOLLO_OFFERS.length - 1;

/**
 * Whether `accept` prefers text/html to every GraphQL response type, decided as Apollo Server
 * decides it with negotiator: each offer takes its most specific matching range (then the
 * highest q, then the later one); offers rank by q, specificity, the range's position in the
 * header, and Apollo's order. That is when Apollo served its landing page, so every client
 * that got JSON before still does.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = accept.split(',').flatMap((part) => parseMediaType(part) ?? []);
  const ranked = APOLLO_OFFERS.flatMap((offer, offerIndex) => {
    let best: { q: number; s: number; o: number } | undefined;
    ranges.forEach((range, o) => {
      const s = specificity(range, offer);
      if (s >= 0 && (!best || (best.s - s || best.q - range.q || best.o - o) < 0)) best = { q: range.q, s, o };
    });
    return best && best.q > 0 ? [{ ...best, offerIndex }] : [];
  });
  ranked.sort((a, b) => b.q - a.q || b.s - a.s || a.o - b.o || a.offerIndex - b.offerIndex);
  return ranked[0]?.offerIndex === HTML_OFFER;
}

/** The route of @as-integrations/fastify's handler, which replies with a string. */
interface GraphQLRoute extends RouteGenericInterface {
  Reply: string;
}

type GraphQLHandler = RouteHandlerMethod<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  GraphQLRoute
>;

/**
 * `graphqlHandler`, except that a browser's `GET` (one that prefers text/html) gets GraphiQL.
 * Register it only outside production; there Apollo answers such a GET as before.
 */
export function withPlayground(graphqlHandler: GraphQLHandler): GraphQLHandler {
  let page: Promise<string> | undefined;
  return async function graphqlOrPlayground(request, reply) {
    if (request.method !== 'GET' || !prefersHtml(request.headers.accept)) {
      return graphqlHandler.call(this, request, reply);
    }
    // Built once, on the first visit; a failed build is retried on the next one.
    page ??= renderPlaygroundPage().catch((error: unknown) => {
      page = undefined;
      throw error;
    });
    const html = await page;
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', playgroundContentSecurityPolicy(request.headers.host))
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .header('vary', 'accept')
      .send(html);
  };
}
