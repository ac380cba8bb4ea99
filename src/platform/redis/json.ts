/**
 * JSON that keeps `Date`s: records carry timestamps, and a cached bot must come back with
 * `createdAt` as a Date, exactly as the repository returned it. A date is written as
 * `{"$date": "<ISO>"}`, which no user text can produce as a whole object value.
 */
export function toCacheJson(value: unknown): string {
  return JSON.stringify(value, function replace(this: Record<string, unknown>, key: string, encoded: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.toISOString() } : encoded;
  });
}

export function fromCacheJson<T>(text: string): T {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value);
      if (entries.length === 1 && entries[0]?.[0] === '$date' && typeof entries[0][1] === 'string') {
        return new Date(entries[0][1]);
      }
    }
    return value;
  }) as T;
}
