import pino, { type Logger } from 'pino';

export type { Logger };

/** Human-readable lines in development, JSON everywhere else (log shippers parse it). */
export function createLogger(options: { level: string; pretty: boolean; name: string }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    redact: ['req.headers.authorization', '*.password', '*.token'],
    transport: options.pretty
      ? {
          target: 'pino-pretty',
          options: { colorize: true, singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
        }
      : undefined,
  });
}
