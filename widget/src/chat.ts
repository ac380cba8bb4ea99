import { ApiError, NETWORK, type Api, type HistoryMessage, type SendResult } from './api';
import { newClientMessageId } from './ids';
import { inSeconds, retryDelayMillis, sleep } from './retry';
import { isFresh, type SessionStore, type StoredSession } from './session-store';
import type { StatusStream } from './status-stream';
import type { MessageStatus, StatusEvent } from './types';
import { createMessageView, type MessageView, type View } from './view';

/** The server's limit on one message, enforced before sending too. */
export const MESSAGE_MAX_CHARS = 4000;

/**
 * Automatic attempts at one message before it is shown as not stored, with a Retry button:
 * about two minutes of back-off, or longer when the server asks for it.
 */
const SEND_ATTEMPTS = 8;

const TEXT = {
  unavailable: 'This chat is not available on this site.',
  misconfigured: 'This chat is not set up correctly.',
  tooLong: `Messages can be at most ${MESSAGE_MAX_CHARS.toLocaleString('en')} characters.`,
  notSent: 'The message could not be sent.',
  reconnecting: 'Reconnecting…',
  broken: 'Something went wrong in the chat.',
};

/** The widget cannot work on this page (origin not allowed, unknown public key). */
class BlockedError extends Error {}

/** One visitor message with the reply it brought. */
interface Exchange {
  text: string;
  clientMessageId: string;
  user: MessageView;
  reply?: MessageView;
  /** The server's id of the visitor's message, once answered. */
  id?: string;
}

/** Status-line sources, most important first: only the first with something to say shows. */
type Notice = 'input' | 'send' | 'session' | 'stream';

function retryText(failure: ApiError, seconds: number, what: string): string {
  if (failure.code === 'RATE_LIMITED') return `Too many ${what}: trying again in ${seconds} s`;
  if (failure.code === 'OVERLOADED') return `The service is busy: trying again in ${seconds} s`;
  return `${failure.code === NETWORK ? 'No connection' : 'The service had a problem'}: trying again in ${seconds} s`;
}

const asApiError = (error: unknown): ApiError =>
  error instanceof ApiError ? error : new ApiError('INTERNAL', error instanceof Error ? error.message : String(error));

/** PERSISTED is final: an older QUEUED (a late event, a slow response) must not undo it. */
const next = (current: string | undefined, incoming: MessageStatus): MessageStatus =>
  current === 'PERSISTED' ? 'PERSISTED' : incoming;

export function createChat(deps: {
  publicKey: string;
  api: Api;
  store: SessionStore;
  view: View;
  stream: StatusStream;
}) {
  const { publicKey, api, store, view, stream } = deps;

  const restored = store.load();
  let session = restored && isFresh(restored) ? restored : undefined;
  if (restored && !session) store.clear();
  if (session) view.setBotName(session.botName);

  let blocked = false;
  let starting: Promise<StoredSession> | undefined;
  let ready: Promise<void> | undefined;
  let subscribedTo: string | undefined;
  const outbox: Exchange[] = [];
  let pumping = false;
  const byId = new Map<string, Exchange>();
  /** The latest status event per message id: a reply to a send can arrive after its events. */
  const latest = new Map<string, MessageStatus>();

  const notices: Record<Notice, string> = { input: '', send: '', session: '', stream: '' };
  const say = (notice: Notice, text: string) => {
    notices[notice] = text;
    if (!blocked) view.setStatus(notices.input || notices.send || notices.session || notices.stream);
  };

  const block = (text: string) => {
    blocked = true;
    stream.stop();
    view.block(text);
  };

  /** Waits before attempt `attempt + 1`, saying why and for how long on the status line. */
  const pause = async (notice: Notice, failure: ApiError, attempt: number, what: string) => {
    const millis = retryDelayMillis(failure.retryAfterSeconds, attempt);
    say(notice, retryText(failure, inSeconds(millis), what));
    await sleep(millis);
  };

  const forgetConversation = () => {
    stream.stop();
    subscribedTo = undefined;
    if (session?.conversationId) {
      session = { ...session, conversationId: undefined };
      store.save(session);
    }
  };

  /** The token expired or was refused: the next request starts a new session and conversation. */
  const endSession = () => {
    forgetConversation();
    session = undefined;
    store.clear();
  };

  const subscribe = () => {
    if (session?.conversationId && subscribedTo !== session.conversationId) {
      subscribedTo = session.conversationId;
      stream.start(session.conversationId, session.token);
    }
  };

  async function startSession(): Promise<StoredSession> {
    for (let attempt = 0; ; attempt++) {
      try {
        const started = await api.startWidgetSession(publicKey);
        say('session', '');
        session = {
          token: started.token,
          expiresAt: started.expiresAt,
          botId: started.bot.id,
          botName: started.bot.name,
        };
        store.save(session);
        view.setBotName(started.bot.name);
        return session;
      } catch (error: unknown) {
        const failure = asApiError(error);
        if (!failure.transient) {
          // FORBIDDEN: this page's origin is not one the bot allows. NOT_FOUND: a wrong key.
          block(failure.code === 'FORBIDDEN' ? TEXT.unavailable : TEXT.misconfigured);
          throw new BlockedError();
        }
        await pause('session', failure, attempt, 'requests');
      }
    }
  }

  function ensureSession(): Promise<StoredSession> {
    if (blocked) return Promise.reject(new BlockedError());
    if (session && isFresh(session)) return Promise.resolve(session);
    if (session) endSession();
    starting ??= startSession().finally(() => {
      starting = undefined;
    });
    return starting;
  }

  function track(exchange: Exchange, id: string, status: MessageStatus) {
    if (exchange.id) byId.delete(exchange.id);
    exchange.id = id;
    byId.set(id, exchange);
    exchange.user.setId(id);
    exchange.user.setStatus(next(latest.get(id), status));
  }

  function showHistory(messages: HistoryMessage[]) {
    const views: MessageView[] = [];
    let last: Exchange | undefined;
    for (const message of messages) {
      if (message.role === 'USER') {
        // The idempotency key of a message sent before the reload is not known: a retry of a
        // FAILED one is a new send anyway (the server freed its key when it failed it).
        const exchange: Exchange = {
          text: message.content,
          clientMessageId: newClientMessageId(),
          user: createMessageView('user', message.content, () => run(async () => retry(exchange))),
        };
        track(exchange, message.id, message.status);
        views.push(exchange.user);
        last = exchange;
      } else {
        const reply = createMessageView('assistant', message.content);
        reply.setId(message.id);
        views.push(reply);
        if (last && !last.reply) last.reply = reply;
        last = undefined;
      }
    }
    view.prepend(views);
  }

  /** Shows the stored conversation after a reload, then follows its statuses. */
  async function restore(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await ensureSession();
      if (!current.conversationId) return;
      try {
        const messages = await api.conversation(current.conversationId, current.token);
        say('session', '');
        if (!messages) return forgetConversation();
        showHistory(messages);
        return subscribe();
      } catch (error: unknown) {
        const failure = asApiError(error);
        if (failure.code === 'UNAUTHENTICATED') endSession();
        else if (!failure.transient) return forgetConversation();
        else await pause('session', failure, attempt, 'requests');
      }
    }
  }

  function accept(exchange: Exchange, result: SendResult) {
    if (session && !session.conversationId) {
      session = { ...session, conversationId: result.conversationId };
      store.save(session);
    }
    subscribe();
    track(exchange, result.message.id, result.message.status);
    exchange.reply?.element.remove();
    exchange.reply = undefined;
    if (result.reply) {
      const reply = createMessageView('assistant', result.reply.content);
      reply.setId(result.reply.id);
      exchange.reply = reply;
      view.insertAfter(exchange.user, reply);
    }
  }

  /** Sends one message until it is answered, refused for good, or out of attempts. */
  async function deliver(exchange: Exchange): Promise<void> {
    let renewed = false;
    for (let attempt = 0; ;) {
      let current: StoredSession;
      try {
        current = await ensureSession();
      } catch {
        return exchange.user.setStatus('FAILED');
      }
      try {
        const result = await api.sendMessage(
          {
            botId: current.botId,
            ...(current.conversationId ? { conversationId: current.conversationId } : {}),
            text: exchange.text,
            clientMessageId: exchange.clientMessageId,
          },
          current.token,
        );
        say('send', '');
        return accept(exchange, result);
      } catch (error: unknown) {
        const failure = asApiError(error);
        if (failure.code === 'UNAUTHENTICATED' && !renewed) {
          // The token expired: carry on in a new session and conversation. Idempotency keys
          // are per visitor, so the same clientMessageId is safe there.
          renewed = true;
          endSession();
          continue;
        }
        attempt++;
        if (!failure.transient || attempt >= SEND_ATTEMPTS) {
          say('send', failure.transient ? TEXT.notSent : `${TEXT.notSent} ${failure.message}`);
          return exchange.user.setStatus('FAILED', failure.message);
        }
        await pause('send', failure, attempt - 1, 'messages');
      }
    }
  }

  /** One message at a time, in the order typed: the first one creates the conversation. */
  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      await start();
      for (let exchange = outbox[0]; exchange; exchange = outbox[0]) {
        await deliver(exchange);
        outbox.shift();
      }
    } finally {
      pumping = false;
    }
  }

  const run = (task: () => Promise<void>) => {
    task().catch((error: unknown) => {
      if (!(error instanceof BlockedError)) say('send', TEXT.broken);
    });
  };

  function enqueue(exchange: Exchange) {
    exchange.user.setStatus('sending');
    outbox.push(exchange);
    run(pump);
  }

  function retry(exchange: Exchange) {
    if (blocked || outbox.includes(exchange)) return;
    exchange.reply?.element.remove();
    exchange.reply = undefined;
    // To the end of the log, where the server will put it.
    view.append(exchange.user);
    view.focusInput();
    enqueue(exchange);
  }

  /** The first opening of the panel: a session, and the conversation a reload left. */
  function start(): Promise<void> {
    ready ??= restore().catch((error: unknown) => {
      if (!(error instanceof BlockedError)) say('session', TEXT.broken);
    });
    return ready;
  }

  return {
    start: () => run(start),

    send(text: string): boolean {
      const trimmed = text.trim();
      if (!trimmed || blocked) return false;
      if (trimmed.length > MESSAGE_MAX_CHARS) {
        say('input', TEXT.tooLong);
        return false;
      }
      say('input', '');
      const exchange: Exchange = {
        text: trimmed,
        clientMessageId: newClientMessageId(),
        user: createMessageView('user', trimmed, () => run(async () => retry(exchange))),
      };
      view.append(exchange.user);
      enqueue(exchange);
      return true;
    },

    /** The box is full (its maxlength): say why typing stopped. */
    typed: (length: number) => say('input', length >= MESSAGE_MAX_CHARS ? TEXT.tooLong : ''),

    onStatus(event: StatusEvent) {
      latest.set(event.messageId, next(latest.get(event.messageId), event.status));
      const exchange = byId.get(event.messageId);
      // A message being sent again waits for its new ids; its old ones are history.
      if (!exchange || outbox.includes(exchange)) return;
      exchange.user.setStatus(next(exchange.user.status, event.status), event.error);
    },

    onReconnecting: (reconnecting: boolean) => say('stream', reconnecting ? TEXT.reconnecting : ''),
    onUnauthorized: endSession,
    onGone: forgetConversation,
  };
}
