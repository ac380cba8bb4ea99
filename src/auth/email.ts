/** RFC 5321 caps a forward path at 256 octets, brackets included: 254 for the address. */
export const EMAIL_MAX_LENGTH = 254;

const WHITESPACE = /\s/;

/**
 * The e-mail address as stored: trimmed and lowercased, or `undefined` when it is not one.
 *
 * Deliberately loose (the only real check is a confirmation mail): exactly one `@`, a
 * non-empty local part and domain without whitespace, and a dot inside the domain with text
 * on both sides. The length is checked before anything scans the address, and the rest is
 * one pass over at most 254 characters, so no input can make it slow.
 */
export function parseEmail(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (trimmed.length > EMAIL_MAX_LENGTH) return undefined;
  const email = trimmed.toLowerCase();
  // Lower-casing can lengthen a character (İ becomes i and a combining dot).
  if (email.length > EMAIL_MAX_LENGTH) return undefined;
  const at = email.indexOf('@');
  if (at < 1 || email.indexOf('@', at + 1) !== -1 || WHITESPACE.test(email)) return undefined;
  // The dot must leave at least one character of the domain on each side.
  const dot = email.indexOf('.', at + 2);
  return dot !== -1 && dot < email.length - 1 ? email : undefined;
}
