'use strict';

/**
 * Artillery hooks for the scenarios in load/artillery/scenarios. GraphQL answers errors with HTTP 200,
 * so the status code alone would count a failed request as a success: every request runs
 * `checkGraphQL`, which counts `errors` in the body by code. The widget flow's status stream
 * (graphql-ws) lives here too: artillery's own WebSocket steps break on graphql-ws.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- artillery loads this file as CommonJS (load/package.json has no "type") */
const { randomUUID } = require('node:crypto');
const { setTimeout, clearTimeout } = require('node:timers');
const { URL } = require('node:url');
const { createClient } = require('graphql-ws');
const WebSocket = require('ws');
/* eslint-enable @typescript-eslint/no-require-imports */

/** How long a sent message may take to be reported PERSISTED before it counts as a timeout. */
const PERSISTED_TIMEOUT_MILLIS = Number(process.env.PERSISTED_TIMEOUT_MILLIS) || 10_000;

/** Questions about the demo bots' topics (`npm run seed`); a few repeat, as popular questions do. */
const QUESTIONS = [
  'When are you open on Saturday?',
  'Do you sell decaf beans by the kilo?',
  'Can I get a refund for a damaged bag?',
  'How do I pause my coffee subscription?',
  'Which milk alternatives do you have?',
  'How much does the Plus membership cost?',
  'When are the yoga classes?',
  'How do I cancel my membership?',
  'How do I deploy my application?',
  'How do I roll back a release?',
  'Are secrets shown in the logs?',
  'What does bandwidth above 100 GB cost?',
];

const SUBSCRIPTION =
  'subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId conversationId status error } }';

const parseBody = (response) => (typeof response.body === 'string' ? JSON.parse(response.body) : response.body);

/** Counts the answer's GraphQL errors by `extensions.code`, or one `graphql.ok`. */
function checkGraphQL(_request, response, _context, events, done) {
  try {
    const body = parseBody(response);
    if (Array.isArray(body?.errors)) {
      for (const error of body.errors)
        events.emit('counter', `graphql.errors.${error.extensions?.code ?? 'UNKNOWN'}`, 1);
    } else {
      events.emit('counter', 'graphql.ok', 1);
    }
  } catch {
    events.emit('counter', 'graphql.errors.UNPARSEABLE', 1);
  }
  return done();
}

/** A question for the next send or search, and a fresh idempotency key (the widget sends one with every message). */
function pickQuestion(context, _events, done) {
  context.vars.question = QUESTIONS[Math.floor(Math.random() * QUESTIONS.length)];
  context.vars.clientMessageId = randomUUID();
  return done();
}

/**
 * `before` hook: the owner's token and bot ids, shared by every virtual user (one log-in per
 * run, as one owner's dashboard session). Fails the run with a readable reason.
 */
function rememberOwner(_request, response, context, _events, done) {
  let body;
  try {
    body = parseBody(response);
  } catch {
    return done(new Error(`logIn answered HTTP ${response.statusCode} with a body that is not JSON`));
  }
  const token = body?.data?.logIn?.token;
  if (!token) {
    const reason = body?.errors?.[0]?.message ?? `HTTP ${response.statusCode}`;
    return done(
      new Error(
        `logIn as ${context.vars.ownerEmail} failed (${reason}): is the database seeded (npm run seed), are OWNER_EMAIL and OWNER_PASSWORD right?`,
      ),
    );
  }
  context.vars.ownerToken = token;
  return done();
}

/** After `bots`: one of the owner's bots, at random, for the rest of the flow. */
function pickBot(_request, response, context, _events, done) {
  let bots;
  try {
    bots = parseBody(response)?.data?.bots;
  } catch {
    bots = undefined;
  }
  if (!Array.isArray(bots) || bots.length === 0) {
    return done(new Error('the owner has no bots: seed the database (npm run seed)'));
  }
  context.vars.botId = bots[Math.floor(Math.random() * bots.length)].id;
  return done();
}

// ---------------------------------------------------------------------------------------------
// Widget flow: a visitor's status stream over graphql-ws, as the widget keeps it
// (widget/src/status-stream.ts): opened after the first send (the conversation id comes with
// its answer), then kept open for the next sends. Metrics, in the artillery report:
//   widget.first_persisted_after_ms  the conversation's first message: send acknowledged → PERSISTED
//                                    seen, including opening the socket and subscribing
//   widget.persisted_after_ms        the next messages, sent while subscribed: send acknowledged →
//                                    PERSISTED event (the write buffer's delay as a visitor sees it)
//   widget.subscribe_ms              subscribing → the subscription's first event (its snapshot)
//   widget.persisted                 messages seen PERSISTED
//   widget.persisted_on_send         sends answered PERSISTED at once (rollback mode)
//   widget.persisted_before_ack      PERSISTED events that came before the send's answer (rollback
//                                    mode publishes them before answering; counted as 0 ms)
//   widget.timeouts                  no PERSISTED within PERSISTED_TIMEOUT_MILLIS (10,000)
//   widget.failures.<reason>         send_unacknowledged, status_FAILED, subscribe_<code>, socket_closed,
//                                    subscription_completed
// A timeout or failure also fails the virtual user, so `vusers.failed` shows it.
// ---------------------------------------------------------------------------------------------

/** A virtual user's stream: statuses seen by message id, and who waits for which. */
function streamOf(context) {
  context.widgetStream ??= {
    client: undefined,
    unsubscribe: undefined,
    lifetime: undefined,
    /** The reason the stream broke; later waits fail with it at once. */
    broken: undefined,
    /** messageId → { status, atMillis }; PERSISTED is final, as in the widget. */
    seen: new Map(),
    /** messageId → { onPersisted, onFailed } */
    waiters: new Map(),
    /** The last send: { messageId, ackAtMillis }. */
    sent: undefined,
  };
  return context.widgetStream;
}

/** Idempotent. The stream's callbacks check `stream.client`, so what comes after this is ignored. */
function closeStream(stream) {
  const { client, unsubscribe, lifetime } = stream;
  stream.client = stream.unsubscribe = stream.lifetime = undefined;
  clearTimeout(lifetime);
  unsubscribe?.();
  void client?.dispose();
}

function breakStream(stream, reason) {
  stream.broken ??= reason;
  for (const waiter of stream.waiters.values()) waiter.onFailed(reason);
  stream.waiters.clear();
  closeStream(stream);
}

function onStatus(stream, event) {
  if (stream.seen.get(event.messageId)?.status === 'PERSISTED') return;
  stream.seen.set(event.messageId, { status: event.status, atMillis: Date.now() });
  const waiter = stream.waiters.get(event.messageId);
  if (!waiter) return;
  if (event.status === 'PERSISTED') waiter.onPersisted();
  else if (event.status === 'FAILED') waiter.onFailed('status_FAILED');
}

/** graphql-ws' error sink gets GraphQL errors (the subscription was refused) or a close event. */
function failureReason(error) {
  if (Array.isArray(error)) return `subscribe_${error[0]?.extensions?.code ?? 'UNKNOWN'}`;
  return 'socket_closed';
}

function openStream(stream, context, events) {
  const url = new URL('/graphql', context.vars.target);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const subscribedAtMillis = Date.now();
  let snapshotSeen = false;
  const client = createClient({
    url: url.href,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${context.vars.token}` },
    // A load test reports a dropped socket rather than hiding it behind reconnects.
    retryAttempts: 0,
  });
  const live = () => stream.client === client;
  stream.client = client;
  stream.unsubscribe = client.subscribe(
    { query: SUBSCRIPTION, variables: { c: context.vars.conversationId } },
    {
      next: (result) => {
        if (!live()) return;
        // A subscription refused while it starts (NOT_FOUND, FORBIDDEN) comes as a result with errors.
        if (result.errors?.length) return breakStream(stream, failureReason(result.errors));
        const event = result.data?.messageStatusChanged;
        if (!event) return;
        if (!snapshotSeen) {
          snapshotSeen = true;
          events.emit('histogram', 'widget.subscribe_ms', Date.now() - subscribedAtMillis);
        }
        onStatus(stream, event);
      },
      error: (error) => live() && breakStream(stream, failureReason(error)),
      complete: () => live() && breakStream(stream, 'subscription_completed'),
    },
  );
  // A virtual user that fails between steps (a refused send) never reaches closeStatusStream.
  stream.lifetime = setTimeout(() => closeStream(stream), 4 * PERSISTED_TIMEOUT_MILLIS);
  stream.lifetime.unref();
}

/** Resolves with the time PERSISTED was seen; rejects with a failure reason. */
function persistedAt(stream, messageId) {
  const seen = stream.seen.get(messageId);
  if (seen?.status === 'PERSISTED') return Promise.resolve(seen.atMillis);
  if (seen?.status === 'FAILED') return Promise.reject(new Error('status_FAILED'));
  if (stream.broken) return Promise.reject(new Error(stream.broken));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.waiters.delete(messageId);
      reject(new Error('timeout'));
    }, PERSISTED_TIMEOUT_MILLIS);
    stream.waiters.set(messageId, {
      onPersisted: () => {
        clearTimeout(timer);
        stream.waiters.delete(messageId);
        resolve(stream.seen.get(messageId).atMillis);
      },
      onFailed: (reason) => {
        clearTimeout(timer);
        stream.waiters.delete(messageId);
        reject(new Error(reason));
      },
    });
  });
}

/** After a `sendMessage`: notes the message id, the conversation and when the answer came. */
function markSent(_request, response, context, events, done) {
  const ackAtMillis = Date.now();
  const stream = streamOf(context);
  let sent;
  try {
    sent = parseBody(response)?.data?.sendMessage;
  } catch {
    sent = undefined;
  }
  if (!sent?.message?.id) {
    events.emit('counter', 'widget.failures.send_unacknowledged', 1);
    closeStream(stream);
    return done(new Error('widget: the send was not acknowledged'));
  }
  context.vars.conversationId = sent.conversationId;
  stream.sent = { messageId: sent.message.id, ackAtMillis };
  if (sent.message.status === 'PERSISTED') {
    events.emit('counter', 'widget.persisted_on_send', 1);
    // The answer itself says so; the event or snapshot on the stream confirms it.
  }
  return done();
}

/** Waits until the last sent message is reported PERSISTED on the status stream (opened on first use). */
async function awaitPersisted(context, events) {
  const stream = streamOf(context);
  const { messageId, ackAtMillis } = stream.sent;
  const first = !stream.client;
  if (first) openStream(stream, context, events);
  try {
    const atMillis = await persistedAt(stream, messageId);
    if (atMillis < ackAtMillis) events.emit('counter', 'widget.persisted_before_ack', 1);
    const name = first ? 'widget.first_persisted_after_ms' : 'widget.persisted_after_ms';
    events.emit('histogram', name, Math.max(0, atMillis - ackAtMillis));
    events.emit('counter', 'widget.persisted', 1);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    events.emit('counter', reason === 'timeout' ? 'widget.timeouts' : `widget.failures.${reason}`, 1);
    closeStream(stream);
    throw new Error(`widget: message not seen PERSISTED (${reason})`);
  }
}

/** The visitor leaves: the socket closes. */
function closeStatusStream(context, _events, done) {
  closeStream(streamOf(context));
  return done();
}

module.exports = {
  checkGraphQL,
  pickQuestion,
  rememberOwner,
  pickBot,
  markSent,
  awaitPersisted,
  closeStatusStream,
};
