import type { Knex } from 'knex';

export interface MigrationOptions {
  embeddingDimension: number;
}

/** Users, sessions, bots, sources with their embedded chunks, conversations and messages. */
export function initialSchema({ embeddingDimension }: MigrationOptions) {
  return {
    async up(knex: Knex): Promise<void> {
      await knex.raw('CREATE EXTENSION IF NOT EXISTS vector');

      await knex.schema.createTable('users', (t) => {
        t.uuid('id').primary();
        // Stored lower-cased: e-mail addresses compare case-insensitively for people.
        t.text('email').notNullable().unique();
        t.text('password_hash').notNullable();
        t.text('name');
        t.text('plan').notNullable().defaultTo('FREE');
        t.timestamps(true, true);
        t.check(`plan IN ('FREE', 'PRO', 'ENTERPRISE')`);
      });

      await knex.schema.createTable('bots', (t) => {
        t.uuid('id').primary();
        t.uuid('owner_id').notNullable().references('users.id').onDelete('CASCADE');
        t.text('name').notNullable();
        t.text('description');
        t.text('instructions');
        t.text('public_key').notNullable().unique();
        t.specificType('allowed_origins', 'text[]').notNullable().defaultTo('{}');
        t.timestamp('last_active_at', { useTz: true });
        t.bigInteger('message_count').notNullable().defaultTo(0);
        t.timestamps(true, true);
        t.index(['owner_id', 'id']);
      });

      // The rollback session store; the Redis store takes over when it is enabled.
      await knex.schema.createTable('sessions', (t) => {
        t.text('token_hash').primary();
        t.text('kind').notNullable();
        t.uuid('user_id').references('users.id').onDelete('CASCADE');
        t.uuid('bot_id').references('bots.id').onDelete('CASCADE');
        t.uuid('visitor_id');
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('expires_at', { useTz: true }).notNullable();
        t.index(['user_id']);
        t.index(['expires_at']);
        t.check(
          `(kind = 'USER' AND user_id IS NOT NULL) OR (kind = 'VISITOR' AND bot_id IS NOT NULL AND visitor_id IS NOT NULL)`,
        );
      });

      await knex.schema.createTable('sources', (t) => {
        t.uuid('id').primary();
        t.uuid('bot_id').notNullable().references('bots.id').onDelete('CASCADE');
        t.text('kind').notNullable();
        t.text('title').notNullable();
        t.text('status').notNullable().defaultTo('PENDING');
        t.text('error');
        t.integer('chunk_count').notNullable().defaultTo(0);
        t.text('url');
        // Raw TEXT content or uploaded FILE content, kept so a source can be re-ingested.
        t.text('content');
        t.text('content_format');
        t.text('filename');
        t.integer('attempts').notNullable().defaultTo(0);
        t.timestamp('locked_at', { useTz: true });
        t.timestamps(true, true);
        t.index(['bot_id', 'id']);
        t.check(`kind IN ('TEXT', 'URL', 'FILE')`);
        t.check(`status IN ('PENDING', 'PROCESSING', 'READY', 'FAILED')`);
      });
      // The worker's queue: only unfinished sources are in this index.
      await knex.raw(
        `CREATE INDEX sources_queue_idx ON sources (created_at) WHERE status IN ('PENDING', 'PROCESSING')`,
      );

      await knex.schema.createTable('source_chunks', (t) => {
        t.bigIncrements('id').primary();
        t.uuid('source_id').notNullable().references('sources.id').onDelete('CASCADE');
        t.uuid('bot_id').notNullable().references('bots.id').onDelete('CASCADE');
        t.integer('ordinal').notNullable();
        t.text('content').notNullable();
        t.specificType('embedding', `vector(${embeddingDimension})`).notNullable();
        t.unique(['source_id', 'ordinal']);
        t.index(['bot_id']);
      });
      await knex.raw(
        'CREATE INDEX source_chunks_embedding_idx ON source_chunks USING hnsw (embedding vector_cosine_ops)',
      );

      await knex.schema.createTable('conversations', (t) => {
        t.uuid('id').primary();
        t.uuid('bot_id').notNullable().references('bots.id').onDelete('CASCADE');
        t.uuid('owner_user_id').references('users.id').onDelete('CASCADE');
        t.uuid('visitor_id');
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('last_message_at', { useTz: true });
        t.index(['bot_id']);
        t.index(['owner_user_id']);
        t.index(['visitor_id']);
        t.check('(owner_user_id IS NULL) <> (visitor_id IS NULL)');
      });

      await knex.schema.createTable('messages', (t) => {
        // UUIDv7 from the api: time-ordered, so it doubles as a stable sort key.
        t.uuid('id').primary();
        t.uuid('conversation_id').notNullable().references('conversations.id').onDelete('CASCADE');
        t.uuid('bot_id').notNullable().references('bots.id').onDelete('CASCADE');
        t.text('role').notNullable();
        t.text('content').notNullable();
        // Who sent a USER message (user id or widget visitor id); scopes clientMessageId.
        t.uuid('sender_id');
        t.text('client_message_id');
        // The USER message an ASSISTANT message answers.
        t.uuid('reply_to');
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('persisted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['conversation_id', 'created_at', 'id']);
        t.index(['reply_to']);
        t.check(`role IN ('USER', 'ASSISTANT')`);
      });
      await knex.raw(
        `CREATE UNIQUE INDEX messages_client_message_id_idx ON messages (bot_id, sender_id, client_message_id)
         WHERE client_message_id IS NOT NULL`,
      );
    },

    async down(knex: Knex): Promise<void> {
      for (const table of ['messages', 'conversations', 'source_chunks', 'sources', 'sessions', 'bots', 'users']) {
        await knex.schema.dropTableIfExists(table);
      }
    },
  };
}
