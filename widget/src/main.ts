/**
 * Parley's chat widget. A site embeds it with one tag:
 *
 *   <script src="https://<api>/widget.js" data-public-key="pk_…" async></script>
 *
 * - `data-public-key` (required): the bot's public key.
 * - `data-api` (optional): the API's base URL when the script is served from elsewhere (a CDN,
 *   a test server); GraphQL is at `<data-api>/graphql`. Default: the origin of the script's src.
 *
 * Everything lives in a shadow root on `<div id="parley-widget">`; a second copy of the
 * script on the same page does nothing.
 */
import { createApi } from './api';
import { createChat, MESSAGE_MAX_CHARS } from './chat';
import { createSessionStore } from './session-store';
import { createStatusStream } from './status-stream';
import { createView, HOST_ID } from './view';

/** Read now: an async script's `currentScript` is gone once this first run is over. */
function ownScript(): HTMLScriptElement | null {
  const current = document.currentScript;
  if (current instanceof HTMLScriptElement) return current;
  return document.querySelector<HTMLScriptElement>('script[data-public-key][src*="widget"]');
}

/** The API's base URL, without a trailing slash. */
function apiBase(script: HTMLScriptElement): string {
  const configured = script.dataset.api?.trim();
  if (!configured) return new URL(script.src, location.href).origin;
  const url = new URL(configured, location.href);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function mount(script: HTMLScriptElement): void {
  if (document.getElementById(HOST_ID)) return;
  const publicKey = script.dataset.publicKey?.trim();
  if (!publicKey) return;
  const base = apiBase(script);

  // The view and the stream call into the chat, which needs them both: their handlers look
  // `chat` up when called, which is never before it exists.
  const view = createView(
    {
      onOpen: () => chat.start(),
      onSend: (text) => chat.send(text),
      onInput: (length) => chat.typed(length),
    },
    MESSAGE_MAX_CHARS,
  );
  const stream = createStatusStream(`${base.replace(/^http/, 'ws')}/graphql`, {
    onEvent: (event) => chat.onStatus(event),
    onReconnecting: (reconnecting) => chat.onReconnecting(reconnecting),
    onUnauthorized: () => chat.onUnauthorized(),
    onGone: () => chat.onGone(),
  });
  const chat = createChat({
    publicKey,
    api: createApi(`${base}/graphql`),
    store: createSessionStore(publicKey),
    view,
    stream,
  });
  document.body.append(view.host);
}

// A widget must never break the page it is on: whatever fails here stays here.
try {
  const script = ownScript();
  if (script) {
    const safely = () => {
      try {
        mount(script);
      } catch {
        // Nothing was shown, so there is nowhere to say it.
      }
    };
    if (document.body) safely();
    else document.addEventListener('DOMContentLoaded', safely, { once: true });
  }
} catch {
  // As above.
}
