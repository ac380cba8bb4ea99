import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { ARTIFACTS_DIR, launchChromium, launchPhone } from '../helpers/chromium';
import { ROOT } from '../helpers/processes';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

/** What the phone test reads in the page: the parts of the DOM it uses. */
interface BrowserGlobals {
  document: {
    getElementById(id: string): {
      shadowRoot: {
        querySelector(selector: string): {
          getBoundingClientRect(): { left: number; top: number; right: number; bottom: number; width: number };
        };
      };
    };
    documentElement: { scrollWidth: number };
  };
  visualViewport: { offsetLeft: number; offsetTop: number; width: number; height: number; scale: number };
}

const SHOP_HOURS = `Bean There Coffee is open Monday to Friday from 7am to 6pm, and on Saturday from 8am to 4pm.
We are closed on public holidays. The shop is at 12 Harbour Street, next to the ferry terminal.`;
/** How long the widget gets to show what a step waits for; steps take well under a second. */
const STEP_TIMEOUT_MILLIS = 10_000;

describe('chat widget in Chromium', () => {
  let app: TestApp;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let bot: { id: string; publicKey: string };
  let owner: { token: string };

  beforeAll(async () => {
    // The bundle the api serves as /widget.js, built from widget/src as `npm run build` does.
    await promisify(execFile)('node', ['scripts/build-widget.mjs'], { cwd: ROOT });
    // The worker that stores queued messages is started by the tests, when they want it.
    app = await startTestApp({ REDIS_ENABLED: 'true' }, { flusher: false });
    owner = await signUpOwner(app, 'widget-owner');
    bot = await createBot(app, owner.token, 'Bean There');
    const source = await app.gql(
      `mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }`,
      { input: { botId: bot.id, kind: 'TEXT', title: 'Shop hours', text: SHOP_HOURS } },
      owner.token,
    );
    app.startWorker();
    await eventually(async () => {
      const response = await app.gql(
        `query($id: ID!) { source(id: $id) { status } }`,
        { id: source.data!.createSource.id },
        owner.token,
      );
      return response.data?.source?.status === 'READY';
    });
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const widget = (page: Page) => ({
    launcher: page.getByRole('button', { name: 'Open chat' }),
    dialog: page.getByRole('dialog', { name: /Chat with/ }),
    message: page.getByRole('textbox', { name: 'Message' }),
    log: page.getByRole('log'),
    status: page.locator('#parley-widget').getByRole('status'),
    replies: page.locator('li[data-role="assistant"]'),
  });

  const screenshot = async (page: Page, name: string) => {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const path = join(ARTIFACTS_DIR, name);
    await page.screenshot({ path });
    return path;
  };

  it('answers a visitor on the demo page, with ticks from sending to stored, and keeps the conversation on reload', async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(`${app.url}/demo/${bot.publicKey}`);
      const w = widget(page);
      await w.launcher.click();
      await w.dialog.waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      // Opening focuses the message box; Enter sends.
      await page.keyboard.type('When are you open on Saturday?');
      await page.keyboard.press('Enter');

      const question = 'When are you open on Saturday?';
      // No worker stores it yet: acknowledged from the write buffer, one tick.
      await expectStatus(page, question, 'QUEUED');
      await w.replies.filter({ hasText: 'Saturday from 8am to 4pm' }).waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      await page.waitForTimeout(1000);
      await expectStatus(page, question, 'QUEUED');
      await screenshot(page, 'widget-queued.png');

      // The worker comes (back): the subscription turns the tick to stored.
      const flusher = app.startFlusher();
      await expectStatus(page, question, 'PERSISTED');
      // docs/images/widget.png, in the README, is a copy of this one.
      await screenshot(page, 'widget-persisted.png');

      // A reload continues the same conversation, from sessionStorage and the server.
      await page.reload();
      const again = widget(page);
      if (!(await again.dialog.isVisible())) await again.launcher.click();
      await expectStatus(page, question, 'PERSISTED');
      await again.replies.filter({ hasText: 'Saturday from 8am to 4pm' }).waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      await again.message.fill('And on Sunday?');
      await page.keyboard.press('Enter');
      await expectStatus(page, 'And on Sunday?', 'PERSISTED');
      const conversations = await app.deps.db('conversations').where({ bot_id: bot.id }).count({ n: '*' });
      expect(Number(conversations[0]!.n)).toBe(1);
      await flusher.stop();
    } finally {
      await page.close();
    }
  });

  it('fits a phone screen (390×844) on a page wider than the screen: launcher, panel and Send on screen, at their size', async () => {
    const phone = await launchPhone();
    try {
      const { page } = phone;
      // A host page as sites make them: a viewport tag, then content wider than the phone (an
      // unwrapped line of code did it on the demo page), which widens the layout viewport.
      const hostUrl = `${app.url}/a-wide-host-page`;
      await page.route(hostUrl, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">
<pre style="font-size:16px">${'&lt;script src="/widget.js" data-public-key="pk_…" async&gt;&lt;/script&gt; '.repeat(2)}</pre>
<script src="/widget.js" data-public-key="${bot.publicKey}" async></script>`,
        }),
      );
      await page.goto(hostUrl);
      const w = widget(page);
      await w.launcher.waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      /** Where a part of the widget is against what the screen shows (the visual viewport). */
      const placement = (selector: string) =>
        page.evaluate((selector) => {
          // Runs in the page (this file is compiled without the DOM's types).
          const { document, visualViewport: screen } = globalThis as unknown as BrowserGlobals;
          const box = document
            .getElementById('parley-widget')
            .shadowRoot.querySelector(selector)
            .getBoundingClientRect();
          const slack = 0.5;
          return {
            onScreen:
              box.left >= screen.offsetLeft - slack &&
              box.top >= screen.offsetTop - slack &&
              box.right <= screen.offsetLeft + screen.width + slack &&
              box.bottom <= screen.offsetTop + screen.height + slack,
            widthOnScreen: Math.round(box.width * screen.scale),
            pageWidth: document.documentElement.scrollWidth,
          };
        }, selector);
      const launcher = await placement('.launcher');
      // The premise: the page is wider than the phone.
      expect(launcher.pageWidth).toBeGreaterThan(390);
      expect(launcher).toMatchObject({ onScreen: true, widthOnScreen: 56 });

      await w.launcher.click();
      await w.dialog.waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      // On a phone the panel takes the whole screen, and the composer is on it.
      expect(await placement('.panel')).toMatchObject({ onScreen: true, widthOnScreen: 390 });
      expect(await placement('.send')).toMatchObject({ onScreen: true });
      expect(await placement('textarea')).toMatchObject({ onScreen: true });
      await screenshot(page, 'widget-phone-wide-page.png');

      // The demo page itself wraps its embed line: no wider than the phone.
      await page.goto(`${app.url}/demo/${bot.publicKey}`);
      await w.launcher.waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      expect(await placement('.launcher')).toMatchObject({ onScreen: true, widthOnScreen: 56, pageWidth: 390 });
    } finally {
      await phone.close();
    }
  });

  it('is usable from the keyboard: Escape closes the panel and gives focus back to the launcher', async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(`${app.url}/demo/${bot.publicKey}`);
      const w = widget(page);
      await w.launcher.focus();
      await page.keyboard.press('Enter');
      await w.dialog.waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      expect(await w.message.evaluate((element) => element.matches(':focus'))).toBe(true);
      expect(await w.log.getAttribute('aria-live')).toBe('polite');
      await page.keyboard.press('Escape');
      await w.dialog.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MILLIS });
      expect(await w.launcher.evaluate((element) => element.matches(':focus'))).toBe(true);
      expect(await w.launcher.getAttribute('aria-expanded')).toBe('false');
    } finally {
      await page.close();
    }
  });

  it('waits out a rate limit, says so, and then sends the message once', async () => {
    // Two requests per visitor every 3 s: the first message, then the status subscription
    // (subscribing counts too); the second message is refused with Retry-After.
    const limited = await startTestApp({
      REDIS_ENABLED: 'true',
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_USER_PER_MIN: '2',
      RATE_LIMIT_WINDOW_SECONDS: '3',
    });
    const page = await browser.context.newPage();
    try {
      const limitedOwner = await signUpOwner(limited, 'limited-owner');
      const limitedBot = await createBot(limited, limitedOwner.token, 'Busy');
      await page.goto(`${limited.url}/demo/${limitedBot.publicKey}`);
      const w = widget(page);
      await w.launcher.click();
      await w.message.fill('First question');
      await page.keyboard.press('Enter');
      await expectStatus(page, 'First question', 'PERSISTED');
      await w.message.fill('Second question');
      await page.keyboard.press('Enter');
      await w.status
        .filter({ hasText: /Too many messages: trying again in \d+ s/ })
        .waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      await screenshot(page, 'widget-rate-limited.png');
      await expectStatus(page, 'Second question', 'PERSISTED');
      await limited.drained();
      // Retried with the same clientMessageId: stored once.
      expect(
        await limited.deps.db('messages').where({ bot_id: limitedBot.id, content: 'Second question' }),
      ).toHaveLength(1);
    } finally {
      await page.close();
      // With the browser's connections to it still open (kept alive, or opened ahead of need).
      await limited.close();
    }
  });

  it('tells the visitor when the bot does not allow the site it is on', async () => {
    const picky = await createBot(app, owner.token, 'Picky');
    await app.gql(
      `mutation($id: ID!) { updateBot(id: $id, input: { allowedOrigins: ["https://shop.example"] }) { id } }`,
      { id: picky.id },
      owner.token,
    );
    const page = await browser.context.newPage();
    try {
      await page.goto(`${app.url}/demo/${picky.publicKey}`);
      const w = widget(page);
      await w.launcher.click();
      await page
        .locator('#parley-widget')
        .getByText('This chat is not available on this site.')
        .waitFor({ timeout: STEP_TIMEOUT_MILLIS });
      await screenshot(page, 'widget-refused-origin.png');
      expect(await app.deps.db('conversations').where({ bot_id: picky.id })).toHaveLength(0);
    } finally {
      await page.close();
    }
  });
});

/** Waits until the visitor's message with `text` shows `status` (its tick). */
async function expectStatus(page: Page, text: string, status: string): Promise<void> {
  await page
    .locator(`li[data-role="user"][data-status="${status}"]`, { hasText: text })
    .waitFor({ timeout: STEP_TIMEOUT_MILLIS });
}
