// Statistics of a run's answers: exact percentiles over every latency kept, never sampled.

/** Exact percentile p (0-100) of values sorted ascending; null when there are none. */
export const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;

/** The middle value (the mean of the two middle ones for an even count); null when there are none. */
export function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Sorts `latencies` (ms) in place; requests, req/s over `seconds`, p50/p95/p99 and max. */
export function latencySummary(latencies, seconds) {
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? null,
    seconds,
  };
}
