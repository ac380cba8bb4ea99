import { decodeIntent, InvalidIntentError } from './intent';
import type { DeadLetter, WriteBuffer } from './write-buffer';

/** The most of an error `list` shows: one line per dead letter stays one terminal line. */
const LIST_ERROR_CHARS = 80;

const DLQ_USAGE = `Usage: npm run dlq -- <command>   (make dlq ARGS="<command>")

Commands, on the write buffer's dead letters under REDIS_KEY_PREFIX:
  list              one line each: id, failedAt, attempts, error (shortened)
  show <id>         the entry, with its intent parsed
  replay <id>       queue it again with attempts 0; a worker stores it once
  replay --all      replay every dead letter that can be read
  drop <id>         discard it for good; its messages become unknown
  drop --all        discard every dead letter`;

type DlqCommand =
  | { name: 'help' }
  | { name: 'list' }
  | { name: 'show'; id: string }
  | { name: 'replay' | 'drop'; target: { id: string } | 'all' };

/** Exit codes: 0 done, 1 not done (unknown id, unreadable intent), 2 a usage error. */
export type DlqExitCode = 0 | 1 | 2;

export interface DlqDeps {
  buffer: Pick<WriteBuffer, 'deadLetters' | 'findDeadLetter' | 'replay' | 'drop'>;
  /** Named in messages, so an operator sees which deployment they touched. */
  prefix: string;
  /** The command's result, one call per line. */
  out: (line: string) => void;
  /** Usage and failures, one call per line. */
  err: (line: string) => void;
}

/** Parses argv (after the script name); a string is what is wrong with it. */
function parseDlqArgs(args: readonly string[]): DlqCommand | string {
  const [name, operand, ...extra] = args;
  if (extra.length > 0) return `Too many arguments: ${extra.join(' ')}`;
  switch (name) {
    case undefined:
      return 'No command given.';
    case 'help':
    case '--help':
    case '-h':
      return operand === undefined ? { name: 'help' } : `help takes no argument.`;
    case 'list':
      return operand === undefined ? { name: 'list' } : `list takes no argument.`;
    case 'show':
      if (operand === undefined || operand.startsWith('-')) return 'show needs a dead-letter id.';
      return { name, id: operand };
    case 'replay':
    case 'drop':
      if (operand === '--all') return { name, target: 'all' };
      if (operand === undefined || operand.startsWith('-')) return `${name} needs a dead-letter id, or --all.`;
      return { name, target: { id: operand } };
    default:
      return `Unknown command: ${name}`;
  }
}

/** One line, at most `max` characters: an error may hold a stack or a multi-line SQL message. */
function shorten(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** The intent, or why it cannot be read. */
function readIntent(letter: DeadLetter) {
  try {
    return { intent: decodeIntent(letter.raw) };
  } catch (error: unknown) {
    if (error instanceof InvalidIntentError) return { unreadable: error.message };
    throw error;
  }
}

/** Runs a parsed command; resolves to the exit code. Redis failures reject (the CLI reports them). */
async function executeDlqCommand(command: DlqCommand, deps: DlqDeps): Promise<DlqExitCode> {
  const { buffer, out, err, prefix } = deps;
  const notFound = (id: string): DlqExitCode => {
    err(`No dead letter with id ${id} under "${prefix}" (npm run dlq -- list shows them).`);
    return 1;
  };
  const dropHint = (id: string) =>
    `Inspect it with: npm run dlq -- show ${id}; discard it with: npm run dlq -- drop ${id}`;

  switch (command.name) {
    case 'help':
      out(DLQ_USAGE);
      return 0;

    case 'list': {
      const letters = await buffer.deadLetters();
      // On stderr, like kubectl's "No resources found": stdout stays one line per dead letter.
      if (letters.length === 0) err(`No dead letters under "${prefix}".`);
      for (const letter of letters) {
        out(
          [letter.id, letter.failedAt, `attempts=${letter.attempts}`, shorten(letter.error, LIST_ERROR_CHARS)].join(
            '\t',
          ),
        );
      }
      return 0;
    }

    case 'show': {
      const letter = await buffer.findDeadLetter(command.id);
      if (!letter) return notFound(command.id);
      const read = readIntent(letter);
      const { raw, ...entry } = letter;
      // The raw JSON only when it cannot be read: otherwise the parsed intent says it all.
      out(
        JSON.stringify(
          'intent' in read
            ? { ...entry, intent: read.intent }
            : { ...entry, intent: null, unreadable: read.unreadable, raw },
          null,
          2,
        ),
      );
      return 0;
    }

    case 'replay': {
      if (command.target === 'all') {
        const letters = await buffer.deadLetters();
        let replayed = 0;
        const unreadable: string[] = [];
        for (const letter of letters) {
          const read = readIntent(letter);
          if ('unreadable' in read) {
            unreadable.push(letter.id);
            err(`Skipped ${letter.id}: its intent cannot be read (${read.unreadable}).`);
            continue;
          }
          // false: dropped or replayed by someone else since the list was read; nothing left to do.
          if (await buffer.replay(letter)) replayed++;
        }
        out(`Replayed ${replayed} of ${letters.length} dead letters under "${prefix}".`);
        if (unreadable.length > 0) {
          err(`${unreadable.length} cannot be replayed; discard them with: npm run dlq -- drop <id>`);
          return 1;
        }
        return 0;
      }
      const { id } = command.target;
      const letter = await buffer.findDeadLetter(id);
      if (!letter) return notFound(id);
      const read = readIntent(letter);
      if ('unreadable' in read) {
        err(`Dead letter ${id} cannot be replayed: its intent cannot be read (${read.unreadable}).`);
        err(dropHint(id));
        return 1;
      }
      if (!(await buffer.replay(letter))) return notFound(id);
      out(`Replayed ${id}: queued again with attempts 0; a worker will store it.`);
      return 0;
    }

    case 'drop': {
      if (command.target === 'all') {
        const letters = await buffer.deadLetters();
        let dropped = 0;
        for (const letter of letters) if (await buffer.drop(letter)) dropped++;
        out(`Dropped ${dropped} dead letters under "${prefix}".`);
        return 0;
      }
      const { id } = command.target;
      const letter = await buffer.findDeadLetter(id);
      if (!letter || !(await buffer.drop(letter))) return notFound(id);
      out(`Dropped ${id}.`);
      return 0;
    }
  }
}

/**
 * Parses and runs; a usage error prints the usage on `err` and is exit code 2, before `open`
 * is called: a command that is not understood needs no Redis.
 */
export async function runDlqCommand(
  args: readonly string[],
  io: Pick<DlqDeps, 'err'>,
  open: () => Promise<DlqDeps>,
): Promise<DlqExitCode> {
  const command = parseDlqArgs(args);
  if (typeof command === 'string') {
    io.err(command);
    io.err(DLQ_USAGE);
    return 2;
  }
  return executeDlqCommand(command, await open());
}
