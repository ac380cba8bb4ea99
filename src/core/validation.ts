import { BadUserInputError } from './errors';
import { isUuid } from './ids';

/** An id argument: malformed ids are bad input, not "not found". */
export function requireId(value: string, field: string): string {
  if (!isUuid(value)) throw new BadUserInputError(`${field} must be a valid id.`, field);
  return value.toLowerCase();
}

/** Trimmed text within bounds (counted in characters as people count them, not UTF-16 units). */
export function requireText(value: string, field: string, bounds: { min?: number; max: number }): string {
  // PostgreSQL text cannot store U+0000.
  if (value.includes('\u0000')) throw new BadUserInputError(`${field} must not contain NUL characters.`, field);
  const text = value.trim();
  const length = [...text].length;
  const min = bounds.min ?? 1;
  if (length < min) {
    throw new BadUserInputError(
      min === 1 ? `${field} must not be empty.` : `${field} must be at least ${min} characters.`,
      field,
    );
  }
  if (length > bounds.max) {
    throw new BadUserInputError(`${field} must be at most ${bounds.max.toLocaleString('en')} characters.`, field);
  }
  return text;
}

/** Optional text: undefined stays unset, null or blank clears. */
export function optionalText(value: string | null | undefined, field: string, max: number): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value.trim() === '') return null;
  return requireText(value, field, { max });
}

export function requireIntInRange(
  value: number | null | undefined,
  field: string,
  range: { min: number; max: number; fallback: number },
): number {
  if (value === null || value === undefined) return range.fallback;
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new BadUserInputError(`${field} must be between ${range.min} and ${range.max}.`, field);
  }
  return value;
}
