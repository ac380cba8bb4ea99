import { STYLES } from './styles';
import type { DisplayStatus } from './types';

export const HOST_ID = 'parley-widget';
const PANEL_ID = 'parley-panel';
const INPUT_ID = 'parley-message';

/** The tick after a visitor's message, and what a screen reader says for it. */
const TICKS: Record<DisplayStatus, [mark: string, label: string]> = {
  sending: ['…', 'Sending'],
  QUEUED: ['✓', 'Queued'],
  PERSISTED: ['✓✓', 'Stored'],
  FAILED: ['!', 'Not stored'],
};

const CHAT_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';

type Attributes = Record<string, string | number | boolean>;

const BROKEN = 'Something went wrong in the chat.';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, '');
    else if (value !== false) element.setAttribute(name, String(value));
  }
  element.append(...children);
  return element;
}

/** One `<li>` of the log. Content goes in as text only: nothing a bot says becomes markup. */
export interface MessageView {
  readonly element: HTMLLIElement;
  readonly status: DisplayStatus | undefined;
  setId(id: string): void;
  setStatus(status: DisplayStatus, error?: string | null): void;
}

/** `onRetry` (a click on Retry) must not throw. */
export function createMessageView(role: 'user' | 'assistant', text: string, onRetry?: () => void): MessageView {
  const element = el('li', { 'data-role': role }, el('span', { class: 'text' }, text));
  let status: DisplayStatus | undefined;
  let meta: HTMLElement | undefined;
  return {
    element,
    get status() {
      return status;
    },
    setId: (id) => element.setAttribute('data-message-id', id),
    setStatus(next, error) {
      // A snapshot after a reconnect repeats statuses: leave the log (and screen readers) alone.
      if (next === status && !error) return;
      status = next;
      element.setAttribute('data-status', next);
      const [mark, label] = TICKS[next];
      const tick = el('span', { class: 'tick', role: 'img', 'aria-label': label }, mark);
      const retry =
        next === 'FAILED' && onRetry ? el('button', { type: 'button', class: 'retry' }, 'Retry') : undefined;
      retry?.addEventListener('click', onRetry!);
      const fresh = el('span', { class: 'meta' }, tick, ...(retry ? [retry] : []));
      if (error) fresh.title = error;
      if (meta) meta.replaceWith(fresh);
      else element.append(fresh);
      meta = fresh;
    },
  };
}

export interface ViewHandlers {
  onOpen(): void;
  /** Returns whether the text was taken (the box is then emptied). */
  onSend(text: string): boolean;
  onInput(length: number): void;
}

/** A screen this narrow (CSS px at the page's own zoom) gets the panel full-screen. */
const COMPACT_MAX_WIDTH = 480;

/**
 * Pins `frame` to what the screen shows (the visual viewport), at the screen's scale. Fixed
 * elements are placed against the layout viewport, which a page wider than a phone widens
 * (an 807 px page put the launcher off-screen and made the panel 807×1747), and pinch-zoom
 * scales: the frame follows the visual viewport instead, so the widget is on screen and at its
 * own size whatever the host page's width or zoom.
 */
function fitToScreen(frame: HTMLElement): void {
  const screen = window.visualViewport;
  const fit = () => {
    const scale = screen?.scale || 1;
    const width = screen ? screen.width * scale : window.innerWidth;
    const height = screen ? screen.height * scale : window.innerHeight;
    Object.assign(frame.style, {
      left: `${screen?.offsetLeft ?? 0}px`,
      top: `${screen?.offsetTop ?? 0}px`,
      width: `${width}px`,
      height: `${height}px`,
      transform: scale === 1 ? '' : `scale(${1 / scale})`,
    });
    frame.classList.toggle('compact', width <= COMPACT_MAX_WIDTH);
  };
  fit();
  (screen ?? window).addEventListener('resize', fit);
  screen?.addEventListener('scroll', fit);
}

/** Launcher, dialog and composer inside a shadow root on `<div id="parley-widget">`. */
export function createView(handlers: ViewHandlers, maxChars: number) {
  const host = el('div', { id: HOST_ID });
  const root = host.attachShadow({ mode: 'open' });

  const launcher = el('button', {
    type: 'button',
    class: 'launcher',
    'aria-label': 'Open chat',
    'aria-expanded': 'false',
    'aria-controls': PANEL_ID,
  });
  launcher.innerHTML = CHAT_ICON;

  const title = el('h2', { class: 'title' }, 'Chat');
  const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Close chat' }, '×');
  const list = el('ol', { class: 'messages' });
  const log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' }, list);
  const status = el('p', { class: 'status', role: 'status' });
  const input = el('textarea', {
    id: INPUT_ID,
    name: 'message',
    rows: 2,
    maxlength: maxChars,
    placeholder: 'Type a message…',
  });
  const send = el('button', { type: 'submit', class: 'send' }, 'Send');
  const composer = el(
    'form',
    { class: 'composer' },
    el('label', { for: INPUT_ID, class: 'sr' }, 'Message'),
    input,
    send,
  );
  const panel = el(
    'div',
    { id: PANEL_ID, class: 'panel', role: 'dialog', 'aria-label': 'Chat', hidden: true },
    el('div', { class: 'head' }, title, close),
    log,
    status,
    composer,
  );
  const frame = el('div', { class: 'frame' }, launcher, panel);
  root.append(el('style', {}, STYLES), frame);
  fitToScreen(frame);

  const isOpen = () => !panel.hidden;
  const open = () => {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    input.focus();
    handlers.onOpen();
  };
  const shut = () => {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  };
  const submit = () => {
    if (!input.disabled && handlers.onSend(input.value)) input.value = '';
  };

  /** Listeners never throw into the host page: a failure is said on the status line instead. */
  const guard =
    <A extends unknown[]>(listener: (...args: A) => void) =>
    (...args: A): void => {
      try {
        listener(...args);
      } catch {
        status.textContent = BROKEN;
      }
    };
  launcher.addEventListener(
    'click',
    guard(() => (isOpen() ? shut() : open())),
  );
  close.addEventListener('click', guard(shut));
  panel.addEventListener(
    'keydown',
    guard((event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        shut();
      }
    }),
  );
  composer.addEventListener(
    'submit',
    guard((event: SubmitEvent) => {
      event.preventDefault();
      submit();
    }),
  );
  input.addEventListener(
    'keydown',
    guard((event: KeyboardEvent) => {
      // Enter sends, Shift+Enter is a new line; Enter that ends an IME composition is neither.
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    }),
  );
  input.addEventListener(
    'input',
    guard(() => handlers.onInput(input.value.length)),
  );

  const scrollToEnd = () => {
    log.scrollTop = log.scrollHeight;
  };

  return {
    host,
    setBotName(name: string) {
      title.textContent = name;
      panel.setAttribute('aria-label', `Chat with ${name}`);
    },
    append(message: MessageView) {
      list.append(message.element);
      scrollToEnd();
    },
    /** Earlier messages (a restored conversation) go above whatever was typed meanwhile. */
    prepend(messages: MessageView[]) {
      list.prepend(...messages.map((message) => message.element));
      scrollToEnd();
    },
    insertAfter(anchor: MessageView, message: MessageView) {
      anchor.element.after(message.element);
      scrollToEnd();
    },
    focusInput: () => input.focus(),
    setStatus(text: string) {
      if (status.textContent !== text) status.textContent = text;
    },
    /** For good: the chat cannot work on this page. */
    block(text: string) {
      panel.classList.add('blocked');
      input.disabled = true;
      send.disabled = true;
      status.textContent = text;
    },
  };
}

export type View = ReturnType<typeof createView>;
