import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import { botResolvers } from './resolvers/bots';
import { chatResolvers } from './resolvers/chat';
import { DateTime } from './resolvers/scalars';
import { searchResolvers } from './resolvers/search';
import { sourceResolvers } from './resolvers/sources';
import { userResolvers } from './resolvers/users';

/**
 * The nearest folder above this module with a package.json: the repository root both from
 * src/graphql (tsx, jest) and from dist/src/graphql (the compiled build, which has no
 * package.json of its own), and /app in the container.
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json above ${from}`);
  }
}

export const SCHEMA_DIR = join(packageRoot(__dirname), 'schema');

/** The SDL of schema/, one file per domain, in a stable order. */
export function loadTypeDefs(dir = SCHEMA_DIR): string[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => readFileSync(join(dir, file), 'utf8'));
}

export function buildSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: loadTypeDefs(),
    resolvers: [{ DateTime }, userResolvers, botResolvers, sourceResolvers, searchResolvers, chatResolvers],
    resolverValidationOptions: { requireResolversToMatchSchema: 'error' },
  });
}
