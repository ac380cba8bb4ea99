/** Why a string is not a URL that Parley may fetch. */
export type HttpUrlProblem = 'NOT_A_URL' | 'NOT_HTTP' | 'HAS_CREDENTIALS';

export type HttpUrlResult = { ok: true; url: URL } | { ok: false; problem: HttpUrlProblem };

/**
 * The one rule for URLs a bot owner submits and for every redirect they lead to: absolute
 * (or relative to `base`), http or https, and no user name or password (credentials would be
 * sent to the site and stored in plain sight). Returns the parsed, normalised URL or the
 * problem; callers turn the problem into their own error.
 */
export function parseHttpUrl(raw: string, base?: URL): HttpUrlResult {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return { ok: false, problem: 'NOT_A_URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, problem: 'NOT_HTTP' };
  if (url.username || url.password) return { ok: false, problem: 'HAS_CREDENTIALS' };
  return { ok: true, url };
}
