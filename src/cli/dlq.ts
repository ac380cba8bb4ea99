import { createCacheKeys } from '../platform/redis/keys';
import { runDlqCommand } from '../buffer/dlq-commands';
import { createWriteBuffer } from '../buffer/write-buffer';
import { createBufferShards } from '../buffer/shards';
import { runTool } from './run-tool';

/**
 * `npm run dlq -- list|show <id>|replay <id>|replay --all|drop <id>|drop --all`
 * (`make dlq ARGS="..."`): the write buffer's dead letters of this deployment
 * (`REDIS_KEY_PREFIX`). The commands are in dlq-commands.ts; this file only connects, once the
 * command is understood.
 * Exit codes: 0 done, 1 not done (unknown id, unreadable intent, Redis unreachable), 2 usage.
 */
runTool(
  'dlq',
  async ({ config, redis }) => {
    const io = {
      prefix: config.redis.keyPrefix,
      out: (line: string) => process.stdout.write(`${line}\n`),
      err: (line: string) => process.stderr.write(`${line}\n`),
    };
    process.exitCode = await runDlqCommand(process.argv.slice(2), io, async () => {
      const buffer = createWriteBuffer({
        redis: await redis(),
        keys: createCacheKeys(config.redis.keyPrefix),
        shards: createBufferShards(config.buffer.shards),
        maxDepth: config.buffer.maxDepth,
      });
      // Dead letters of another shard count would be out of sight.
      await buffer.adoptLayout();
      return { ...io, buffer };
    });
  },
  { quiet: true },
);
