import { loadConfig, type Config } from '../config/config';
import { createLogger, type Logger } from '../core/logger';
import { createToolRuntime, type ToolRuntime } from '../runtime';
import { runMain } from './run-main';

/**
 * Runs a command-line tool on the composition root's tool runtime (src/runtime.ts) with the
 * environment's configuration; whatever the tool connected is closed however it ends.
 * `quiet`: for tools whose output is the point — pino writes to stdout, so at info its
 * "connected" lines would land among the output; warnings still show, and LOG_LEVEL=debug
 * shows everything.
 */
export function runTool(
  name: string,
  tool: (deps: { config: Config; log: Logger } & Omit<ToolRuntime, 'release'>) => Promise<void>,
  options: { quiet?: boolean } = {},
): void {
  runMain(async () => {
    const config = loadConfig();
    const level = options.quiet && config.logLevel === 'info' ? 'warn' : config.logLevel;
    const log = createLogger({ name, level, pretty: !config.isProduction });
    const { release, ...runtime } = createToolRuntime(config, log);
    try {
      await tool({ config, log, ...runtime });
    } finally {
      await release();
    }
  });
}
