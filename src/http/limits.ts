/**
 * The largest request body on any transport: a GraphQL request carries at most a TEXT
 * source of 1,000,000 characters (4 MB of UTF-8) plus JSON overhead. WebSocket messages
 * are held to the same cap.
 */
export const GRAPHQL_BODY_LIMIT_BYTES = 5 * 1024 * 1024;
