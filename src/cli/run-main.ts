import { loadDotEnv } from '../config/dot-env';
import { StartupError } from '../core/errors';

/**
 * Runs a process entry point; a failure before the logger exists can only go to stderr. A
 * `StartupError` says what to set or start, and is printed alone; anything else with its stack.
 * Outside production, a `.env` file in the working directory fills in unset variables first.
 */
export function runMain(main: () => Promise<void>): void {
  Promise.resolve()
    .then(() => {
      loadDotEnv();
      return main();
    })
    .catch((error: unknown) => {
      process.stderr.write(
        `${error instanceof StartupError ? error.message : ((error as Error)?.stack ?? String(error))}\n`,
      );
      process.exit(1);
    });
}
