import { ConfigError } from '../config/config';
import { SchemaMismatchError } from '../platform/postgres/schema-check';

/** Runs a process entry point; a failure before the logger exists can only go to stderr. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof ConfigError || error instanceof SchemaMismatchError ? error.message : ((error as Error)?.stack ?? String(error))}\n`,
    );
    process.exit(1);
  });
}
