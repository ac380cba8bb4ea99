import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ParseOptions, ValidationRule } from 'graphql';
import type { Config } from '../config/config';
import type { RequestContext } from './request-context';

export interface OperationLimits {
  /** Depth, aliases, directives and cost: graphql-js validation rules, run by Apollo and by the WebSocket server. */
  validationRules: ValidationRule[];
  /** graphql-js stops parsing past `maxTokens`, before a huge document is even built. */
  parseOptions: ParseOptions;
  plugins: ApolloServerPlugin<RequestContext>[];
}

/**
 * The limits every operation must pass before it runs (GraphQL Armor's rules), built
 * once and applied on both transports so a WebSocket is no way around them. Rejections
 * are validation errors: a 400 over HTTP, an error message over graphql-ws.
 */
export function createOperationLimits(limits: Config['graphqlLimits']): OperationLimits {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true },
    maxAliases: { n: limits.maxAliases },
    maxDirectives: { n: limits.maxDirectives },
    costLimit: { maxCost: limits.maxCost, ignoreIntrospection: true },
    // Parsing is capped by graphql-js itself (parseOptions) on both transports, and
    // suggestions are hidden by formatError, which both transports share.
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  const { validationRules, plugins } = armor.protect();
  return {
    validationRules: validationRules as ValidationRule[],
    parseOptions: { maxTokens: limits.maxTokens },
    plugins: plugins as ApolloServerPlugin<RequestContext>[],
  };
}
