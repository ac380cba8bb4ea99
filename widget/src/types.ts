export type MessageStatus = 'QUEUED' | 'PERSISTED' | 'FAILED';

/** What the visitor's message shows: `sending` until the server has answered. */
export type DisplayStatus = 'sending' | MessageStatus;

export interface StatusEvent {
  messageId: string;
  conversationId: string;
  status: MessageStatus;
  error: string | null;
}
