import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed resolvers from schema/. The output is generated: run `npm run codegen`, never edit it.
const config: CodegenConfig = {
  schema: 'schema/*.graphql',
  generates: {
    'src/graphql/__generated__/resolvers-types.ts': {
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        contextType: '../request-context#RequestContext',
        useIndexSignature: true,
        enumsAsTypes: true,
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
        scalars: { DateTime: 'Date', ID: 'string' },
        mappers: {
          User: '../../repos/records#UserRecord',
          Bot: '../../repos/records#BotRecord',
          Source: '../../repos/records#SourceRecord',
          Conversation: '../../repos/records#ConversationRecord',
          Message: '../../repos/records#MessageRecord',
        },
      },
    },
  },
};

export default config;
