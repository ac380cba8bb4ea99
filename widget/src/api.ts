import type { MessageStatus } from './types';

/** How long one request may take before it counts as a network failure (sendMessage retrieves first). */
const REQUEST_TIMEOUT_MILLIS = 30_000;

/** Codes the widget makes up for failures that never reached GraphQL. */
export const NETWORK = 'NETWORK';
const HTTP = 'HTTP';

/** A refused or failed request: `code` is the GraphQL `extensions.code`, or NETWORK / HTTP. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 0,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /**
   * Worth sending again unchanged: the request may not have arrived, the server failed on its
   * side, or it asked us to come back later. Sends carry a clientMessageId, so a retry of one
   * that did arrive is answered from the first and stored once.
   */
  get transient(): boolean {
    return (
      this.code === NETWORK || this.code === 'RATE_LIMITED' || this.code === 'OVERLOADED' || this.httpStatus >= 500
    );
  }
}

export interface WidgetSession {
  token: string;
  expiresAt: string;
  bot: { id: string; name: string };
}

interface ServerMessage {
  id: string;
  status: MessageStatus;
  content: string;
  createdAt: string;
}

export interface SendResult {
  conversationId: string;
  message: ServerMessage;
  reply: ServerMessage | null;
}

export interface HistoryMessage extends ServerMessage {
  role: 'USER' | 'ASSISTANT';
}

export interface SendInput {
  botId: string;
  conversationId?: string;
  text: string;
  clientMessageId: string;
}

interface GraphQLErrorShape {
  message?: string;
  extensions?: { code?: string; retryAfter?: number };
}

const MESSAGE_FIELDS = 'id status content createdAt';

export function createApi(graphqlUrl: string) {
  async function request<T>(query: string, variables: object, token?: string): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MILLIS);
    let response: Response;
    let body: { data?: T | null; errors?: GraphQLErrorShape[] } | undefined;
    try {
      response = await fetch(graphqlUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
        signal: controller.signal,
        credentials: 'omit',
      });
      body = await response.json().catch(() => undefined);
    } catch {
      throw new ApiError(NETWORK, 'The chat service cannot be reached.');
    } finally {
      clearTimeout(timer);
    }
    const error = body?.errors?.[0];
    if (error) {
      const header = Number(response.headers.get('retry-after'));
      const retryAfter = error.extensions?.retryAfter ?? (Number.isFinite(header) && header > 0 ? header : undefined);
      throw new ApiError(
        error.extensions?.code ?? HTTP,
        error.message ?? 'The request failed.',
        response.status,
        retryAfter,
      );
    }
    if (!response.ok || !body?.data) {
      throw new ApiError(HTTP, `The chat service answered ${response.status}.`, response.status || 500);
    }
    return body.data;
  }

  return {
    startWidgetSession: async (publicKey: string): Promise<WidgetSession> =>
      (
        await request<{ startWidgetSession: WidgetSession }>(
          'mutation($k:String!){startWidgetSession(publicKey:$k){token expiresAt bot{id name}}}',
          { k: publicKey },
        )
      ).startWidgetSession,

    sendMessage: async (input: SendInput, token: string): Promise<SendResult> =>
      (
        await request<{ sendMessage: SendResult }>(
          `mutation($input:SendMessageInput!){sendMessage(input:$input){conversationId message{${MESSAGE_FIELDS}} reply{${MESSAGE_FIELDS}}}}`,
          { input },
          token,
        )
      ).sendMessage,

    /** The last 50 messages, oldest first; null when the conversation is gone. */
    conversation: async (id: string, token: string): Promise<HistoryMessage[] | null> =>
      (
        await request<{ conversation: { messages: HistoryMessage[] } | null }>(
          `query($id:ID!){conversation(id:$id){messages(last:50){role ${MESSAGE_FIELDS}}}}`,
          { id },
          token,
        )
      ).conversation?.messages ?? null,
  };
}

export type Api = ReturnType<typeof createApi>;
