/** The longest pause between two automatic attempts when the server does not say how long. */
export const BACKOFF_CAP_MILLIS = 30_000;
/** The longest `Retry-After` honoured: a larger value is more likely a mistake than a plan. */
const RETRY_AFTER_CAP_SECONDS = 300;

/**
 * Exponential back-off with jitter: attempt 0 waits 0.5–1 s, then 1–2 s, 2–4 s… up to
 * 15–30 s. The jitter keeps the visitors of one busy site from coming back in step.
 */
export function backoffMillis(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MILLIS, 1000 * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The server's `retryAfter` (seconds) when it gave one, else the back-off for this attempt. */
export function retryDelayMillis(retryAfterSeconds: number | undefined, attempt: number): number {
  if (retryAfterSeconds !== undefined && retryAfterSeconds >= 0) {
    // A little jitter on top: everyone refused in the same second is told the same wait.
    return Math.min(retryAfterSeconds, RETRY_AFTER_CAP_SECONDS) * 1000 + Math.round(Math.random() * 250);
  }
  return backoffMillis(attempt);
}

export const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

/** Whole seconds for the status line, never "0 s". */
export const inSeconds = (millis: number): number => Math.max(1, Math.round(millis / 1000));
