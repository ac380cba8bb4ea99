import { dictionary } from '@zxcvbn-ts/language-common';

/** How many of the most common passwords are refused; the list is ranked, most common first. */
const REFUSED_TOP = 10_000;

let refused: Set<string> | undefined;

/**
 * True for a password among the 10,000 most common in public breach corpora (zxcvbn-ts'
 * ranked list), compared case-insensitively: "Password1" is as guessable as "password1".
 */
export function isCommonPassword(password: string): boolean {
  refused ??= new Set((dictionary['passwords-common'] as string[]).slice(0, REFUSED_TOP));
  return refused.has(password.toLowerCase());
}
