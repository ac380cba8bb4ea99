import { AppError, BadUserInputError, ErrorCode } from '../errors';
import type { UserRecord } from '../repos/records';
import { EmailTakenError, type UsersRepo } from '../repos/users';
import type { SessionService, StartedSession } from '../sessions/session-service';
import { requireText } from '../validation';
import { hashPassword, unknownUserHash, verifyPassword } from './passwords';

export interface AuthResult extends StartedSession {
  user: UserRecord;
}

// Deliberately loose: the only real check is a confirmation mail, which is out of scope.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PASSWORD_MIN = 8;
// scrypt reads the whole password; a cap keeps a megabyte "password" from costing CPU.
const PASSWORD_MAX = 256;

function normaliseEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (!EMAIL.test(email) || email.length > 254)
    throw new BadUserInputError('email must be a valid e-mail address.', 'email');
  return email;
}

export type AuthService = ReturnType<typeof createAuthService>;

export function createAuthService(deps: { users: UsersRepo; sessions: SessionService }) {
  return {
    async signUp(input: { email: string; password: string; name?: string | null }): Promise<AuthResult> {
      const email = normaliseEmail(input.email);
      if ([...input.password].length < PASSWORD_MIN) {
        throw new BadUserInputError(`password must be at least ${PASSWORD_MIN} characters.`, 'password');
      }
      if ([...input.password].length > PASSWORD_MAX) {
        throw new BadUserInputError(`password must be at most ${PASSWORD_MAX} characters.`, 'password');
      }
      const name =
        input.name == null || input.name.trim() === '' ? null : requireText(input.name, 'name', { max: 100 });
      const passwordHash = await hashPassword(input.password);
      try {
        const user = await deps.users.create({ email, passwordHash, name });
        return { user, ...(await deps.sessions.startUserSession(user.id)) };
      } catch (error: unknown) {
        if (error instanceof EmailTakenError) {
          throw new BadUserInputError('An account with this e-mail already exists.', 'email');
        }
        throw error;
      }
    },

    async logIn(rawEmail: string, password: string): Promise<AuthResult> {
      const found = await deps.users.findCredentials(rawEmail.trim().toLowerCase());
      // A password longer than sign-up allows cannot match; skip hashing a megabyte of it.
      const valid =
        [...password].length <= PASSWORD_MAX &&
        (await verifyPassword(password, found?.passwordHash ?? (await unknownUserHash())));
      if (!found || !valid) {
        // One message for both cases, so log-in does not reveal which e-mails have accounts.
        throw new AppError(ErrorCode.UNAUTHENTICATED, 'E-mail or password is incorrect.');
      }
      return { user: found.user, ...(await deps.sessions.startUserSession(found.user.id)) };
    },
  };
}
