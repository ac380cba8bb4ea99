import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, validate, type OperationDefinitionNode } from 'graphql';
import type { Locator, Page } from 'playwright-core';
import { buildSchema } from '../../src/graphql/schema';
import { playgroundContentSecurityPolicy, prefersHtml } from '../../src/http/playground';
import { EXAMPLE_TABS } from '../../src/http/playground-examples';
import { ARTIFACTS_DIR, launchChromium } from '../helpers/chromium';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/** What a browser sends when it navigates to a page. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
/** How long GraphiQL gets to show what a step waits for; steps take well under a second. */
const STEP_TIMEOUT_MILLIS = 10_000;

/**
 * Replaces an editor's text by pasting, as a person would paste a token. Typing goes through
 * Monaco's auto-closing of brackets and quotes, which would add characters of its own.
 */
async function replaceEditorText(page: Page, editor: Locator, text: string): Promise<void> {
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
  await page.keyboard.press('Control+V');
}

/** Waits until GraphiQL's result pane shows every one of `texts`. */
async function waitForResult(page: Page, texts: string[]): Promise<void> {
  const pane = texts.reduce(
    (locator, text) => locator.filter({ hasText: text }),
    page.locator('section.result-window'),
  );
  await pane.waitFor({ timeout: STEP_TIMEOUT_MILLIS });
}

describe('GraphiQL playground outside production', () => {
  let app: TestApp;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    app = await startTestApp();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('runs a query and a subscription with the token from the headers editor, talking to no other host', async () => {
    const owner = await signUpOwner(app, 'playground');
    const bot = await createBot(app, owner.token, 'Playground bot');
    const sent = await app.gql(
      `mutation($b: ID!) { sendMessage(input: { botId: $b, text: "Hello" }) { conversationId message { id } reply { id } } }`,
      { b: bot.id },
      owner.token,
    );
    expect(sent.errors).toBeUndefined();
    const { conversationId, message, reply } = sent.data!.sendMessage;

    const origin = new URL(app.url).origin;
    const { context } = browser;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    // Every violation of the page's Content-Security-Policy, as the browser reports it.
    await context.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) =>
          window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
    });
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const page = context.pages()[0] ?? (await context.newPage());
    const sockets: { url: string; sent: string[]; received: string[]; closed: boolean }[] = [];
    page.on('websocket', (socket) => {
      const record = { url: socket.url(), sent: [] as string[], received: [] as string[], closed: false };
      sockets.push(record);
      socket.on('framesent', (frame) => record.sent.push(String(frame.payload)));
      socket.on('framereceived', (frame) => record.received.push(String(frame.payload)));
      socket.on('close', () => (record.closed = true));
    });

    try {
      const response = await page.goto(`${app.url}/graphql`);
      expect(response!.status()).toBe(200);
      expect(response!.headers()['content-security-policy']).toBe(
        playgroundContentSecurityPolicy(new URL(app.url).host),
      );
      const queryEditor = page.locator('.graphiql-query-editor .monaco-editor');
      const headersEditor = page.locator('.monaco-editor[data-uri$="request-headers.json"]');
      const activeTab = page.locator('.graphiql-tab-active');
      const executeButton = page.locator('.graphiql-execute-button');
      await queryEditor.waitFor({ timeout: STEP_TIMEOUT_MILLIS });

      // The README's examples are there as tabs, the first one open.
      await expect(activeTab.textContent()).resolves.toContain('LogIn');
      await expect(page.locator('.graphiql-tab').count()).resolves.toBe(EXAMPLE_TABS.length);

      // The token goes in through the headers editor, over its placeholder.
      await page.getByRole('button', { name: 'Headers', exact: true }).click();
      await expect(headersEditor.textContent()).resolves.toContain('Bearer');
      await replaceEditorText(page, headersEditor, JSON.stringify({ authorization: `Bearer ${owner.token}` }));

      // GraphiQL reads the operation (and names the tab after it) 100 ms after an edit;
      // waiting for the name means the run below sends what the editor shows.
      await replaceEditorText(page, queryEditor, 'query Me { me { email } }');
      await activeTab.getByText('Me', { exact: true }).waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      await executeButton.click();
      await waitForResult(page, [owner.email]);

      // The subscription first reports the conversation's messages, oldest first: the pane
      // shows the latest event, the reply.
      await replaceEditorText(
        page,
        queryEditor,
        `subscription Statuses { messageStatusChanged(conversationId: "${conversationId}") { messageId status } }`,
      );
      await activeTab.getByText('Statuses', { exact: true }).waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      await executeButton.click();
      await waitForResult(page, [reply.id, 'PERSISTED']);

      // Over graphql-ws on the same URL, with the headers editor's token in connection_init.
      expect(sockets.map((socket) => socket.url)).toEqual([`${origin.replace('http', 'ws')}/graphql`]);
      const [socket] = sockets;
      expect(JSON.parse(socket!.sent[0]!)).toEqual({
        type: 'connection_init',
        payload: { authorization: `Bearer ${owner.token}` },
      });
      const nextEvents = () =>
        socket!.received
          .map((frame) => JSON.parse(frame))
          .filter((frame) => frame.type === 'next')
          .map((frame) => frame.payload.data.messageStatusChanged);
      // Playwright may report a frame a moment after the page has shown it.
      const events = await eventually(async () => (nextEvents().length >= 2 ? nextEvents() : undefined));
      expect(events).toEqual([
        { messageId: message.id, status: 'PERSISTED' },
        { messageId: reply.id, status: 'PERSISTED' },
      ]);

      // The same button stops the subscription, which closes its socket.
      await executeButton.click();
      await eventually(async () => socket!.closed || undefined, STEP_TIMEOUT_MILLIS);

      // Everything came from this server: the page, GraphQL over HTTP, Monaco's workers
      // (blob: URLs of this origin). data: URLs are no request at all.
      const network = requests.filter((url) => !url.startsWith('data:'));
      expect(network.filter((url) => new URL(url).origin !== origin)).toEqual([]);
      expect(network.filter((url) => !url.startsWith('blob:'))).toEqual(expect.arrayContaining([`${origin}/graphql`]));
      expect(network.filter((url) => !url.startsWith('blob:') && new URL(url).pathname !== '/graphql')).toEqual([]);
      // Nothing the page needed was blocked, and the policy is in force: another origin,
      // even on this machine, is refused by the browser itself.
      await expect(page.evaluate('window.cspViolations')).resolves.toEqual([]);
      await expect(page.evaluate(`fetch('http://127.0.0.1:9/').then(() => 'fetched', () => 'refused')`)).resolves.toBe(
        'refused',
      );
      await expect(page.evaluate('window.cspViolations')).resolves.toEqual(['connect-src http://127.0.0.1:9/']);
    } finally {
      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'playground.png') });
    }
  });

  it('leaves every other GET to Apollo, CSRF prevention included', async () => {
    const url = `${app.url}/graphql?query=${encodeURIComponent('{ __typename }')}`;
    const blocked = await fetch(url, { headers: { accept: 'application/json' } });
    expect(blocked.status).toBe(400);
    expect(((await blocked.json()) as any).errors[0].message).toMatch(/CSRF/);
    const allowed = await fetch(url, { headers: { accept: 'application/json', 'apollo-require-preflight': 'true' } });
    expect(await allowed.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('GraphiQL playground in production', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ NODE_ENV: 'production' });
  });
  afterAll(() => app?.close());

  it("is not served: a browser's GET gets Apollo's CSRF refusal, as with its landing page disabled", async () => {
    const response = await fetch(`${app.url}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('content-security-policy')).toBeNull();
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(body.errors[0].message).toMatch(/Cross-Site Request Forgery/);
  });
});

describe('playground pieces', () => {
  it.each([
    [BROWSER_ACCEPT, true],
    ['text/html', true],
    ['text/html, application/json', true],
    ['*/*', false],
    ['application/json', false],
    ['application/json, text/html', false],
    ['text/html;q=0.5, application/json', false],
    ['text/*, application/json;q=0.9', true],
    ['text/html;q=0', false],
    ['text/html;level=1', false],
    ['application/json;charset=utf-8, text/html', false],
    ['multipart/mixed;deferSpec=20220824, text/html', false],
    ['', false],
  ])('prefersHtml(%j) is %s, as Apollo ranks it', (accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });

  it('names only a plain Host header in the policy', () => {
    expect(playgroundContentSecurityPolicy('127.0.0.1:4000')).toContain(
      "connect-src 'self' ws://127.0.0.1:4000 wss://127.0.0.1:4000",
    );
    expect(playgroundContentSecurityPolicy('[::1]:4000')).toContain(
      "connect-src 'self' ws://[::1]:4000 wss://[::1]:4000",
    );
    expect(playgroundContentSecurityPolicy('evil; script-src *')).toContain("connect-src 'self';");
    expect(playgroundContentSecurityPolicy(undefined)).toContain("connect-src 'self';");
  });

  it('offers example tabs that are valid against the schema, with a value for every variable', () => {
    const schema = buildSchema();
    for (const tab of EXAMPLE_TABS) {
      const document = parse(tab.query);
      expect(validate(schema, document).map((error) => error.message)).toEqual([]);
      const variables = Object.keys(JSON.parse(tab.variables ?? '{}'));
      const used = document.definitions
        .filter((definition): definition is OperationDefinitionNode => definition.kind === 'OperationDefinition')
        .flatMap((operation) => operation.variableDefinitions?.map((v) => v.variable.name.value) ?? []);
      expect(variables.sort()).toEqual([...new Set(used)].sort());
    }
  });
});
