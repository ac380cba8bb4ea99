import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { PACKAGE_ROOT } from '../core/package-root';
import type { GraphQLSchema } from 'graphql';
import { botResolvers } from './resolvers/bots';
import { chatResolvers } from './resolvers/chat';
import { DateTime } from './resolvers/scalars';
import { searchResolvers } from './resolvers/search';
import { sourceResolvers } from './resolvers/sources';
import { userResolvers } from './resolvers/users';

const SCHEMA_DIR = join(PACKAGE_ROOT, 'schema');

/** The SDL of schema/, one file per domain, in a stable order. */
function loadTypeDefs(dir = SCHEMA_DIR): string[] {
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
