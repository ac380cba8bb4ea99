import { createCacheKeys } from '../platform/redis/keys';
import { runDlqCommand } from '../buffer/dlq-commands';
import { createWriteBuffer } from '../buffer/write-buffer';
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
    process.exitCode = await runDlqCommand(process.argv.slice(2), io, async () => ({
      ...io,
      buffer: createWriteBuffer({
        redis: await redis(),
        keys: createCacheKeys(config.redis.keyPrefix),
        maxDepth: config.buffer.maxDepth,
      }),
    }));
  },
  { quiet: true },
);
