import { GraphQLResolveInfo, GraphQLScalarType, GraphQLScalarTypeConfig } from 'graphql';
import { UserRecord, BotRecord, SourceRecord, ConversationRecord, MessageRecord } from '../../repos/records';
import { RequestContext } from '../request-context';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Omit<T, K extends keyof T> = Pick<T, Exclude<keyof T, K>>;
export type RequireFields<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** An ISO-8601 date-time in UTC, e.g. `2026-11-26T06:14:24.123Z`. */
  DateTime: { input: Date; output: Date; }
};

export type AuthPayload = {
  __typename?: 'AuthPayload';
  expiresAt: Scalars['DateTime']['output'];
  /** Send as `Authorization: Bearer <token>`. Valid until `expiresAt` or `logOut`. */
  token: Scalars['String']['output'];
  user: User;
};

export type Bot = {
  __typename?: 'Bot';
  /** Owner only. The origins (`https://shop.example`) whose pages may start widget sessions; empty: any. */
  allowedOrigins: Maybe<Array<Scalars['String']['output']>>;
  /** Owner only. Its conversations, most recently active first (1 to 100); a new one is listed once its first message is stored. */
  conversations: Maybe<Array<Conversation>>;
  createdAt: Scalars['DateTime']['output'];
  description: Maybe<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  /** Owner only. */
  instructions: Maybe<Scalars['String']['output']>;
  /** Owner only. When its last stored message was sent. */
  lastActiveAt: Maybe<Scalars['DateTime']['output']>;
  /** Owner only. Stored messages of all its conversations (questions and replies); a sent message counts once a worker has stored it. */
  messageCount: Maybe<Scalars['Int']['output']>;
  name: Scalars['String']['output'];
  /** Owner only: null, with a FORBIDDEN error, for anyone else (the rest of the bot still answers). */
  owner: Maybe<User>;
  /** Identifies the bot to the public widget (`startWidgetSession`). */
  publicKey: Scalars['String']['output'];
  /** Owner only: null, with a FORBIDDEN error, for anyone else. Oldest first. */
  sources: Maybe<Array<Source>>;
  updatedAt: Scalars['DateTime']['output'];
};


export type BotConversationsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
};

export type Conversation = {
  __typename?: 'Conversation';
  bot: Bot;
  createdAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  /** When its last message was sent; null until the first is stored. */
  lastMessageAt: Maybe<Scalars['DateTime']['output']>;
  /** The last `last` messages (1 to 500), oldest first; includes QUEUED ones. */
  messages: Array<Message>;
};


export type ConversationMessagesArgs = {
  last?: InputMaybe<Scalars['Int']['input']>;
};

export type CreateBotInput = {
  /** Up to 1,000 characters. */
  description?: InputMaybe<Scalars['String']['input']>;
  /** Up to 4,000 characters. */
  instructions?: InputMaybe<Scalars['String']['input']>;
  /** 1 to 100 characters. */
  name: Scalars['String']['input'];
};

export type CreateSourceInput = {
  botId: Scalars['ID']['input'];
  /** TEXT or URL; FILE sources come from `POST /uploads`. */
  kind: SourceKind;
  /** Required for TEXT (up to 1,000,000 characters). */
  text?: InputMaybe<Scalars['String']['input']>;
  /** 1 to 200 characters. */
  title: Scalars['String']['input'];
  /** Required for URL: an http(s) address. */
  url?: InputMaybe<Scalars['String']['input']>;
};

export type Message = {
  __typename?: 'Message';
  content: Scalars['String']['output'];
  conversationId: Scalars['ID']['output'];
  createdAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  role: MessageRole;
  status: MessageStatus;
};

export type MessageRole =
  | 'ASSISTANT'
  | 'USER';

export type MessageStatus =
  /** Could not be stored; see `error`. */
  | 'FAILED'
  /** Stored durably. */
  | 'PERSISTED'
  /** Accepted and buffered, not yet in the database. */
  | 'QUEUED';

export type MessageStatusEvent = {
  __typename?: 'MessageStatusEvent';
  conversationId: Scalars['ID']['output'];
  error: Maybe<Scalars['String']['output']>;
  messageId: Scalars['ID']['output'];
  status: MessageStatus;
};

/** Writes. Each mutation either completes or changes nothing. */
export type Mutation = {
  __typename?: 'Mutation';
  createBot: Bot;
  /** Queues the source for ingestion; poll `source(id)` until READY or FAILED. */
  createSource: Maybe<Source>;
  /** Deletes the bot with its sources and conversations. */
  deleteBot: Scalars['Boolean']['output'];
  deleteSource: Scalars['Boolean']['output'];
  logIn: Maybe<AuthPayload>;
  /** Ends the session of the token sent with this request. */
  logOut: Scalars['Boolean']['output'];
  /** Ends every session of the signed-in owner, on every device (this one included); open subscriptions close with code 4401. Returns how many were live. */
  logOutEverywhere: Scalars['Int']['output'];
  /** For the bot's owner or a widget visitor of that bot. */
  sendMessage: Maybe<SendMessagePayload>;
  signUp: Maybe<AuthPayload>;
  /** Starts an anonymous visitor session for the bot with this public key (24 h). */
  startWidgetSession: Maybe<WidgetSession>;
  updateBot: Bot;
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationCreateBotArgs = {
  input: CreateBotInput;
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationCreateSourceArgs = {
  input: CreateSourceInput;
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationDeleteBotArgs = {
  id: Scalars['ID']['input'];
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationDeleteSourceArgs = {
  id: Scalars['ID']['input'];
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationLogInArgs = {
  email: Scalars['String']['input'];
  password: Scalars['String']['input'];
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationSendMessageArgs = {
  input: SendMessageInput;
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationSignUpArgs = {
  input: SignUpInput;
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationStartWidgetSessionArgs = {
  publicKey: Scalars['String']['input'];
};


/** Writes. Each mutation either completes or changes nothing. */
export type MutationUpdateBotArgs = {
  id: Scalars['ID']['input'];
  input: UpdateBotInput;
};

/** The plans the product sells; the rate limits read them. */
export type Plan =
  | 'ENTERPRISE'
  | 'FREE';

/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type Query = {
  __typename?: 'Query';
  bot: Maybe<Bot>;
  /** The viewer's bots, oldest first. `after` is the `id` of the last bot of the previous page. */
  bots: Array<Bot>;
  conversation: Maybe<Conversation>;
  /** The signed-in owner, or null without a token. A widget visitor token is not an owner. */
  me: Maybe<User>;
  /** Status of up to 100 messages the viewer can read (their own; an owner also their bots' conversations). Unknown ids are left out. */
  messageStatuses: Array<MessageStatusEvent>;
  /**
   * Best-matching chunks of the bot's READY sources. `limit` is 1 to 50; up to 10 (VECTOR_CACHE_MAX_LIMIT)
   * the answer is cached. Limited per account and per address.
   */
  search: Maybe<Array<SearchHit>>;
  source: Maybe<Source>;
};


/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type QueryBotArgs = {
  id: Scalars['ID']['input'];
};


/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type QueryBotsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type QueryConversationArgs = {
  id: Scalars['ID']['input'];
};


/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type QueryMessageStatusesArgs = {
  ids: Array<Scalars['ID']['input']>;
};


/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type QuerySearchArgs = {
  botId: Scalars['ID']['input'];
  limit?: InputMaybe<Scalars['Int']['input']>;
  query: Scalars['String']['input'];
};


/**
 * Reads. Authenticate with `Authorization: Bearer <token>` (from `logIn`, `signUp` or
 * `startWidgetSession`). Errors carry `extensions.code`: UNAUTHENTICATED, FORBIDDEN,
 * BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, OVERLOADED or INTERNAL_SERVER_ERROR.
 */
export type QuerySourceArgs = {
  id: Scalars['ID']['input'];
};

/** Whom a `@rateLimit` counts a request against. Each counts per window (RATE_LIMIT_WINDOW_SECONDS, 60) up to its RATE_LIMIT_* limit. */
export type RateLimitPolicy =
  /** The bot the widget traffic goes to (RATE_LIMIT_BOT_PER_MIN, 500); invalid requests are taken back, as for GLOBAL. */
  | 'BOT'
  /** The e-mail address a logIn is for, from the client's address, at the per-user limit: guessing from one place cannot lock the owner out from another. */
  | 'EMAIL'
  /** Every request to this field on one api instance (RATE_LIMIT_GLOBAL_PER_MIN, 1,000); each field has its own counter, and requests the field refuses as invalid (BAD_USER_INPUT, NOT_FOUND) are taken back. */
  | 'GLOBAL'
  /** The client's address (RATE_LIMIT_IP_PER_MIN, 200); ENTERPRISE accounts are exempt. */
  | 'IP'
  /** Password attempts (logIn, signUp) from the client's address (RATE_LIMIT_LOGIN_PER_MIN, 20). */
  | 'LOGIN'
  /** The signed-in account or widget visitor (RATE_LIMIT_USER_PER_MIN, 100); ENTERPRISE accounts are exempt. */
  | 'USER';

export type SearchHit = {
  __typename?: 'SearchHit';
  content: Scalars['String']['output'];
  /** Cosine similarity, higher is closer (at most 1). */
  score: Scalars['Float']['output'];
  sourceId: Scalars['ID']['output'];
};

export type SendMessageInput = {
  botId: Scalars['ID']['input'];
  /** Optional idempotency key (up to 100 characters): a retried send is stored once. */
  clientMessageId?: InputMaybe<Scalars['ID']['input']>;
  /** Omit to start a new conversation. */
  conversationId?: InputMaybe<Scalars['ID']['input']>;
  /** 1 to 4,000 characters. */
  text: Scalars['String']['input'];
};

export type SendMessagePayload = {
  __typename?: 'SendMessagePayload';
  conversationId: Scalars['ID']['output'];
  /** The user's message, status QUEUED while buffered. */
  message: Message;
  /** The bot's retrieval-based answer. */
  reply: Maybe<Message>;
};

export type SignUpInput = {
  /** Unique per account, compared case-insensitively. */
  email: Scalars['String']['input'];
  name?: InputMaybe<Scalars['String']['input']>;
  /** At least 8 characters. */
  password: Scalars['String']['input'];
};

/** Knowledge a bot answers from. FILE sources are uploaded with `POST /uploads` (multipart: `botId`, `file`). */
export type Source = {
  __typename?: 'Source';
  bot: Bot;
  chunkCount: Scalars['Int']['output'];
  createdAt: Scalars['DateTime']['output'];
  /** Why ingestion FAILED, readable for people. */
  error: Maybe<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  kind: SourceKind;
  status: SourceStatus;
  title: Scalars['String']['output'];
  updatedAt: Scalars['DateTime']['output'];
};

export type SourceKind =
  | 'FILE'
  | 'TEXT'
  | 'URL';

export type SourceStatus =
  | 'FAILED'
  | 'PENDING'
  | 'PROCESSING'
  | 'READY';

/** Live updates over WebSocket (`graphql-transport-ws`), token in `connection_init` payload `authorization`. */
export type Subscription = {
  __typename?: 'Subscription';
  /** First the current status of the conversation's recent messages, then every change. */
  messageStatusChanged: MessageStatusEvent;
};


/** Live updates over WebSocket (`graphql-transport-ws`), token in `connection_init` payload `authorization`. */
export type SubscriptionMessageStatusChangedArgs = {
  conversationId: Scalars['ID']['input'];
};

/** Omitted fields stay as they are; null clears description or instructions. */
export type UpdateBotInput = {
  /** Up to 20 origins (scheme and host, e.g. `https://shop.example`) whose pages may embed the widget; empty or null: any. */
  allowedOrigins?: InputMaybe<Array<Scalars['String']['input']>>;
  description?: InputMaybe<Scalars['String']['input']>;
  instructions?: InputMaybe<Scalars['String']['input']>;
  name?: InputMaybe<Scalars['String']['input']>;
};

/** A bot owner's account. */
export type User = {
  __typename?: 'User';
  createdAt: Scalars['DateTime']['output'];
  email: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  name: Maybe<Scalars['String']['output']>;
  plan: Plan;
};

export type WidgetSession = {
  __typename?: 'WidgetSession';
  bot: Bot;
  expiresAt: Scalars['DateTime']['output'];
  /** A visitor token bound to one bot; send as `Authorization: Bearer <token>`. */
  token: Scalars['String']['output'];
};

export type WithIndex<TObject> = TObject & Record<string, any>;
export type ResolversObject<TObject> = WithIndex<TObject>;

export type ResolverTypeWrapper<T> = Promise<T> | T;


export type ResolverWithResolve<TResult, TParent, TContext, TArgs> = {
  resolve: ResolverFn<TResult, TParent, TContext, TArgs>;
};
export type Resolver<TResult, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = ResolverFn<TResult, TParent, TContext, TArgs> | ResolverWithResolve<TResult, TParent, TContext, TArgs>;

export type ResolverFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => Promise<TResult> | TResult;

export type SubscriptionSubscribeFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => AsyncIterable<TResult> | Promise<AsyncIterable<TResult>>;

export type SubscriptionResolveFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;

export interface SubscriptionSubscriberObject<TResult, TKey extends string, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<{ [key in TKey]: TResult }, TParent, TContext, TArgs>;
  resolve?: SubscriptionResolveFn<TResult, { [key in TKey]: TResult }, TContext, TArgs>;
}

export interface SubscriptionResolverObject<TResult, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<any, TParent, TContext, TArgs>;
  resolve: SubscriptionResolveFn<TResult, any, TContext, TArgs>;
}

export type SubscriptionObject<TResult, TKey extends string, TParent, TContext, TArgs> =
  | SubscriptionSubscriberObject<TResult, TKey, TParent, TContext, TArgs>
  | SubscriptionResolverObject<TResult, TParent, TContext, TArgs>;

export type SubscriptionResolver<TResult, TKey extends string, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> =
  | ((...args: any[]) => SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>)
  | SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>;

export type TypeResolveFn<TTypes, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (
  parent: TParent,
  context: TContext,
  info: GraphQLResolveInfo
) => Maybe<TTypes> | Promise<Maybe<TTypes>>;

export type IsTypeOfResolverFn<T = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (obj: T, context: TContext, info: GraphQLResolveInfo) => boolean | Promise<boolean>;

export type NextResolverFn<T> = () => Promise<T>;

export type DirectiveResolverFn<TResult = Record<PropertyKey, never>, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = (
  next: NextResolverFn<TResult>,
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;





/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = ResolversObject<{
  AuthPayload: ResolverTypeWrapper<Omit<AuthPayload, 'user'> & { user: ResolversTypes['User'] }>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  Bot: ResolverTypeWrapper<BotRecord>;
  Conversation: ResolverTypeWrapper<ConversationRecord>;
  CreateBotInput: CreateBotInput;
  CreateSourceInput: CreateSourceInput;
  DateTime: ResolverTypeWrapper<Scalars['DateTime']['output']>;
  Float: ResolverTypeWrapper<Scalars['Float']['output']>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  Message: ResolverTypeWrapper<MessageRecord>;
  MessageRole: MessageRole;
  MessageStatus: MessageStatus;
  MessageStatusEvent: ResolverTypeWrapper<MessageStatusEvent>;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Plan: Plan;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  RateLimitPolicy: RateLimitPolicy;
  SearchHit: ResolverTypeWrapper<SearchHit>;
  SendMessageInput: SendMessageInput;
  SendMessagePayload: ResolverTypeWrapper<Omit<SendMessagePayload, 'message' | 'reply'> & { message: ResolversTypes['Message'], reply?: Maybe<ResolversTypes['Message']> }>;
  SignUpInput: SignUpInput;
  Source: ResolverTypeWrapper<SourceRecord>;
  SourceKind: SourceKind;
  SourceStatus: SourceStatus;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  Subscription: ResolverTypeWrapper<Record<PropertyKey, never>>;
  UpdateBotInput: UpdateBotInput;
  User: ResolverTypeWrapper<UserRecord>;
  WidgetSession: ResolverTypeWrapper<Omit<WidgetSession, 'bot'> & { bot: ResolversTypes['Bot'] }>;
}>;

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = ResolversObject<{
  AuthPayload: Omit<AuthPayload, 'user'> & { user: ResolversParentTypes['User'] };
  Boolean: Scalars['Boolean']['output'];
  Bot: BotRecord;
  Conversation: ConversationRecord;
  CreateBotInput: CreateBotInput;
  CreateSourceInput: CreateSourceInput;
  DateTime: Scalars['DateTime']['output'];
  Float: Scalars['Float']['output'];
  ID: Scalars['ID']['output'];
  Int: Scalars['Int']['output'];
  Message: MessageRecord;
  MessageStatusEvent: MessageStatusEvent;
  Mutation: Record<PropertyKey, never>;
  Query: Record<PropertyKey, never>;
  SearchHit: SearchHit;
  SendMessageInput: SendMessageInput;
  SendMessagePayload: Omit<SendMessagePayload, 'message' | 'reply'> & { message: ResolversParentTypes['Message'], reply?: Maybe<ResolversParentTypes['Message']> };
  SignUpInput: SignUpInput;
  Source: SourceRecord;
  String: Scalars['String']['output'];
  Subscription: Record<PropertyKey, never>;
  UpdateBotInput: UpdateBotInput;
  User: UserRecord;
  WidgetSession: Omit<WidgetSession, 'bot'> & { bot: ResolversParentTypes['Bot'] };
}>;

export type RateLimitDirectiveArgs = {
  policies: Array<RateLimitPolicy>;
};

export type RateLimitDirectiveResolver<Result, Parent, ContextType = RequestContext, Args = RateLimitDirectiveArgs> = DirectiveResolverFn<Result, Parent, ContextType, Args>;

export type AuthPayloadResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['AuthPayload'] = ResolversParentTypes['AuthPayload']> = ResolversObject<{
  expiresAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  token?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  user?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
}>;

export type BotResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Bot'] = ResolversParentTypes['Bot']> = ResolversObject<{
  allowedOrigins?: Resolver<Maybe<Array<ResolversTypes['String']>>, ParentType, ContextType>;
  conversations?: Resolver<Maybe<Array<ResolversTypes['Conversation']>>, ParentType, ContextType, RequireFields<BotConversationsArgs, 'first'>>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  description?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  instructions?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  lastActiveAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  messageCount?: Resolver<Maybe<ResolversTypes['Int']>, ParentType, ContextType>;
  name?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  owner?: Resolver<Maybe<ResolversTypes['User']>, ParentType, ContextType>;
  publicKey?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  sources?: Resolver<Maybe<Array<ResolversTypes['Source']>>, ParentType, ContextType>;
  updatedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
}>;

export type ConversationResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Conversation'] = ResolversParentTypes['Conversation']> = ResolversObject<{
  bot?: Resolver<ResolversTypes['Bot'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  lastMessageAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  messages?: Resolver<Array<ResolversTypes['Message']>, ParentType, ContextType, RequireFields<ConversationMessagesArgs, 'last'>>;
}>;

export interface DateTimeScalarConfig extends GraphQLScalarTypeConfig<ResolversTypes['DateTime'], any> {
  name: 'DateTime';
}

export type MessageResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Message'] = ResolversParentTypes['Message']> = ResolversObject<{
  content?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  conversationId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  role?: Resolver<ResolversTypes['MessageRole'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['MessageStatus'], ParentType, ContextType>;
}>;

export type MessageStatusEventResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['MessageStatusEvent'] = ResolversParentTypes['MessageStatusEvent']> = ResolversObject<{
  conversationId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  error?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  messageId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['MessageStatus'], ParentType, ContextType>;
}>;

export type MutationResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation']> = ResolversObject<{
  createBot?: Resolver<ResolversTypes['Bot'], ParentType, ContextType, RequireFields<MutationCreateBotArgs, 'input'>>;
  createSource?: Resolver<Maybe<ResolversTypes['Source']>, ParentType, ContextType, RequireFields<MutationCreateSourceArgs, 'input'>>;
  deleteBot?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationDeleteBotArgs, 'id'>>;
  deleteSource?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationDeleteSourceArgs, 'id'>>;
  logIn?: Resolver<Maybe<ResolversTypes['AuthPayload']>, ParentType, ContextType, RequireFields<MutationLogInArgs, 'email' | 'password'>>;
  logOut?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  logOutEverywhere?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  sendMessage?: Resolver<Maybe<ResolversTypes['SendMessagePayload']>, ParentType, ContextType, RequireFields<MutationSendMessageArgs, 'input'>>;
  signUp?: Resolver<Maybe<ResolversTypes['AuthPayload']>, ParentType, ContextType, RequireFields<MutationSignUpArgs, 'input'>>;
  startWidgetSession?: Resolver<Maybe<ResolversTypes['WidgetSession']>, ParentType, ContextType, RequireFields<MutationStartWidgetSessionArgs, 'publicKey'>>;
  updateBot?: Resolver<ResolversTypes['Bot'], ParentType, ContextType, RequireFields<MutationUpdateBotArgs, 'id' | 'input'>>;
}>;

export type QueryResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query']> = ResolversObject<{
  bot?: Resolver<Maybe<ResolversTypes['Bot']>, ParentType, ContextType, RequireFields<QueryBotArgs, 'id'>>;
  bots?: Resolver<Array<ResolversTypes['Bot']>, ParentType, ContextType, RequireFields<QueryBotsArgs, 'first'>>;
  conversation?: Resolver<Maybe<ResolversTypes['Conversation']>, ParentType, ContextType, RequireFields<QueryConversationArgs, 'id'>>;
  me?: Resolver<Maybe<ResolversTypes['User']>, ParentType, ContextType>;
  messageStatuses?: Resolver<Array<ResolversTypes['MessageStatusEvent']>, ParentType, ContextType, RequireFields<QueryMessageStatusesArgs, 'ids'>>;
  search?: Resolver<Maybe<Array<ResolversTypes['SearchHit']>>, ParentType, ContextType, RequireFields<QuerySearchArgs, 'botId' | 'limit' | 'query'>>;
  source?: Resolver<Maybe<ResolversTypes['Source']>, ParentType, ContextType, RequireFields<QuerySourceArgs, 'id'>>;
}>;

export type SearchHitResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['SearchHit'] = ResolversParentTypes['SearchHit']> = ResolversObject<{
  content?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  score?: Resolver<ResolversTypes['Float'], ParentType, ContextType>;
  sourceId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
}>;

export type SendMessagePayloadResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['SendMessagePayload'] = ResolversParentTypes['SendMessagePayload']> = ResolversObject<{
  conversationId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  message?: Resolver<ResolversTypes['Message'], ParentType, ContextType>;
  reply?: Resolver<Maybe<ResolversTypes['Message']>, ParentType, ContextType>;
}>;

export type SourceResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Source'] = ResolversParentTypes['Source']> = ResolversObject<{
  bot?: Resolver<ResolversTypes['Bot'], ParentType, ContextType>;
  chunkCount?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  error?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  kind?: Resolver<ResolversTypes['SourceKind'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['SourceStatus'], ParentType, ContextType>;
  title?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  updatedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
}>;

export type SubscriptionResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Subscription'] = ResolversParentTypes['Subscription']> = ResolversObject<{
  messageStatusChanged?: SubscriptionResolver<ResolversTypes['MessageStatusEvent'], "messageStatusChanged", ParentType, ContextType, RequireFields<SubscriptionMessageStatusChangedArgs, 'conversationId'>>;
}>;

export type UserResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['User'] = ResolversParentTypes['User']> = ResolversObject<{
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  email?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  name?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  plan?: Resolver<ResolversTypes['Plan'], ParentType, ContextType>;
}>;

export type WidgetSessionResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['WidgetSession'] = ResolversParentTypes['WidgetSession']> = ResolversObject<{
  bot?: Resolver<ResolversTypes['Bot'], ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  token?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type Resolvers<ContextType = RequestContext> = ResolversObject<{
  AuthPayload?: AuthPayloadResolvers<ContextType>;
  Bot?: BotResolvers<ContextType>;
  Conversation?: ConversationResolvers<ContextType>;
  DateTime?: GraphQLScalarType;
  Message?: MessageResolvers<ContextType>;
  MessageStatusEvent?: MessageStatusEventResolvers<ContextType>;
  Mutation?: MutationResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  SearchHit?: SearchHitResolvers<ContextType>;
  SendMessagePayload?: SendMessagePayloadResolvers<ContextType>;
  Source?: SourceResolvers<ContextType>;
  Subscription?: SubscriptionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
  WidgetSession?: WidgetSessionResolvers<ContextType>;
}>;

export type DirectiveResolvers<ContextType = RequestContext> = ResolversObject<{
  rateLimit?: RateLimitDirectiveResolver<any, any, ContextType>;
}>;
