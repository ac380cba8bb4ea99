/** Entities as the application sees them (camelCase); repositories map rows to these. */

/** The plans migration 003 allows (PRO was never sold). */
export type Plan = 'FREE' | 'ENTERPRISE';
export type SourceKind = 'TEXT' | 'URL' | 'FILE';
export type SourceStatus = 'PENDING' | 'PROCESSING' | 'READY' | 'FAILED';
export type MessageRole = 'USER' | 'ASSISTANT';
export type MessageStatus = 'QUEUED' | 'PERSISTED' | 'FAILED';

export interface UserRecord {
  id: string;
  email: string;
  name: string | null;
  plan: Plan;
  createdAt: Date;
  updatedAt: Date;
}

export interface BotRecord {
  id: string;
  ownerId: string;
  name: string;
  description: string | null;
  instructions: string | null;
  publicKey: string;
  /** Origins (`https://shop.example`) whose pages may start widget sessions; empty: any. */
  allowedOrigins: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface SourceRecord {
  id: string;
  botId: string;
  kind: SourceKind;
  title: string;
  status: SourceStatus;
  error: string | null;
  chunkCount: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ConversationRecord {
  id: string;
  botId: string;
  ownerUserId: string | null;
  visitorId: string | null;
  createdAt: Date;
  lastMessageAt: Date | null;
}

export interface MessageRecord {
  id: string;
  conversationId: string;
  botId: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  createdAt: Date;
}
