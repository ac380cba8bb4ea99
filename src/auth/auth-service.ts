import type { Db } from '../platform/postgres/connection';
import { AppError, BadUserInputError, ErrorCode } from '../core/errors';
import type { UserRecord } from '../repos/records';
import { EmailTakenError, type UsersRepo } from '../repos/users';
import type { SessionService, StartedSession } from '../sessions/session-service';
import { optionalText } from '../core/validation';
import { isCommonPassword } from './breached-passwords';
import { parseEmail } from './email';
import type { PasswordHashing } from './password-hashing';

export interface AuthResult extends StartedSession {
  user: UserRecord;
}

const PASSWORD_MIN = 8;
// scrypt reads the whole password; a cap keeps a megabyte "password" from costing CPU.
const PASSWORD_MAX = 256;
const NAME_MAX = 100;

/** The password rules of sign-up, checked before any hashing; lengths first, so nothing long is scanned. */
function checkNewPassword(password: string): void {
  if (password.length > PASSWORD_MAX * 2 || [...password].length > PASSWORD_MAX) {
    throw new BadUserInputError(`password must be at most ${PASSWORD_MAX} characters.`, 'password');
  }
  if ([...password].length < PASSWORD_MIN) {
    throw new BadUserInputError(`password must be at least ${PASSWORD_MIN} characters.`, 'password');
  }
  if (password.trim() === '') throw new BadUserInputError('password must not be blank.', 'password');
  if (isCommonPassword(password)) {
    throw new BadUserInputError(
      'This password is among the most common in known data breaches: choose another.',
      'password',
    );
  }
}

export type AuthService = ReturnType<typeof createAuthService>;

export function createAuthService(deps: {
  db: Db;
  users: UsersRepo;
  sessions: SessionService;
  passwords: PasswordHashing;
}) {
  return {
    /** @param address the client's address as the rate limits see it: whose turn the hash waits for */
    async signUp(
      input: { email: string; password: string; name?: string | null },
      address: string,
    ): Promise<AuthResult> {
      const email = parseEmail(input.email);
      if (!email) throw new BadUserInputError('email must be a valid e-mail address.', 'email');
      checkNewPassword(input.password);
      const name = optionalText(input.name, 'name', NAME_MAX) ?? null;
      const passwordHash = await deps.passwords.hash(input.password, address);
      try {
        // One transaction: an account never exists without the session its sign-up returned.
        return await deps.db.transaction(async (trx) => {
          const user = await deps.users.create({ email, passwordHash, name }, trx);
          return { user, ...(await deps.sessions.startUserSession(user, trx)) };
        });
      } catch (error: unknown) {
        if (error instanceof EmailTakenError) {
          throw new BadUserInputError('An account with this e-mail already exists: log in instead.', 'email');
        }
        throw error;
      }
    },

    /** @param address the client's address as the rate limits see it: whose turn the hash waits for */
    async logIn(rawEmail: string, password: string, address: string): Promise<AuthResult> {
      const email = parseEmail(rawEmail);
      const found = email === undefined ? undefined : await deps.users.findCredentials(email);
      // A password longer than sign-up allows cannot match; skip hashing a megabyte of it.
      const plausible = password.length <= PASSWORD_MAX * 2 && [...password].length <= PASSWORD_MAX;
      const valid = plausible && (await deps.passwords.verify(password, found?.passwordHash, address));
      if (!found || !valid) {
        // One message for both cases, so log-in does not reveal which e-mails have accounts.
        throw new AppError(ErrorCode.UNAUTHENTICATED, 'E-mail or password is incorrect.');
      }
      return { user: found.user, ...(await deps.sessions.startUserSession(found.user)) };
    },
  };
}
