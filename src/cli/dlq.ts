import { closeRedis, connectRedis, createRedis } from '../platform/redis/connection';
import { loadConfig } from '../config/config';
import { createCacheKeys } from '../platform/redis/keys';
import { createLogger } from '../core/logger';
import { runMain } from './run-main';
import { runDlqCommand } from '../buffer/dlq-commands';
import { createWriteBuffer } from '../buffer/write-buffer';

/**
 * `npm run dlq -- list|show <id>|replay <id>|replay --all|drop <id>|drop --all`
 * (`make dlq ARGS="..."`): the write buffer's dead letters of this deployment
 * (`REDIS_KEY_PREFIX`). The commands are in dlq-commands.ts; this file only connects, once the
 * command is understood.
 * Exit codes: 0 done, 1 not done (unknown id, unreadable intent, Redis unreachable), 2 usage.
 */
runMain(async () => {
  const config = loadConfig();
  // pino writes to stdout: at info its "redis connected" would land among the command's
  // output. Warnings still show, and LOG_LEVEL=debug shows everything.
  const log = createLogger({
    name: 'dlq',
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    pretty: !config.isProduction,
  });
  // Whatever REDIS_ENABLED says: dead letters outlive a switch to rollback mode.
  const redis = createRedis(config.redis, log);
  const io = {
    prefix: config.redis.keyPrefix,
    out: (line: string) => process.stdout.write(`${line}\n`),
    err: (line: string) => process.stderr.write(`${line}\n`),
  };
  try {
    process.exitCode = await runDlqCommand(process.argv.slice(2), io, async () => {
      await connectRedis(redis, config.redis);
      const keys = createCacheKeys(config.redis.keyPrefix);
      return { ...io, buffer: createWriteBuffer({ redis, keys, maxDepth: config.buffer.maxDepth }) };
    });
  } finally {
    await closeRedis(redis);
  }
});
