import type { Logger } from './logger';

/**
 * A warning logged at most once per `everyMillis`: a Redis that is down fails every request,
 * and one line a minute says so as well as thousands. Reports how many were held back.
 */
export function createThrottledWarn(log: Logger, everyMillis: number) {
  let lastAt = -Infinity;
  let heldBack = 0;
  return (error: unknown, message: string, fields: Record<string, unknown> = {}): void => {
    const now = Date.now();
    if (now - lastAt < everyMillis) {
      heldBack++;
      return;
    }
    log.warn({ err: error, ...fields, ...(heldBack > 0 ? { heldBack } : {}) }, message);
    lastAt = now;
    heldBack = 0;
  };
}
