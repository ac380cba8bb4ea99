import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, visit, type DocumentNode } from 'graphql';
import { AppError, ErrorCode } from '../core/errors';

const NUL = '\u0000';

/**
 * PostgreSQL text cannot hold U+0000: a NUL anywhere in an argument would reach the
 * database as a driver error (a masked 500 and SQL in the log). Checked once per operation,
 * on literals and variables, so no field can forget it; `requireText` names the field where
 * it knows it.
 */
export function assertNoNul(document: DocumentNode, variables: Record<string, unknown> | null | undefined): void {
  // Apollo hands the same parsed document to every request of a query: walk it once.
  if (!cleanDocuments.has(document)) {
    visit(document, {
      [Kind.STRING](node) {
        if (node.value.includes(NUL)) throw nulError();
      },
    });
    cleanDocuments.add(document);
  }
  if (variables && containsNul(variables)) throw nulError();
}

/** Documents whose literals were checked and hold no NUL. */
const cleanDocuments = new WeakSet<DocumentNode>();

// The whole request is refused before it runs: a 400, not Apollo's default 500 for plugin errors.
function nulError(): AppError {
  return new AppError(
    ErrorCode.BAD_USER_INPUT,
    'Text must not contain NUL characters (U+0000).',
    {},
    { wholeRequest: true },
  );
}

function containsNul(value: unknown): boolean {
  // An explicit stack: a deeply nested variable must not overflow the call stack.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.includes(NUL)) return true;
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        if (key.includes(NUL)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** The guard for Apollo (HTTP); the WebSocket server calls `assertNoNul` itself. */
export function nulGuardPlugin<T extends object>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          assertNoNul(document, request.variables);
        },
      };
    },
  };
}
