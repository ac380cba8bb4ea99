const LINE_BREAK = /\r\n?|\n/;

/**
 * Splits text at any line ending, passes each line through `clean`, collapses runs of blank
 * lines to one and trims the result. One pass per line: owners' text can have any shape.
 */
export function normaliseLines(text: string, clean: (line: string) => string): string {
  const lines: string[] = [];
  for (const line of text.split(LINE_BREAK)) {
    const kept = clean(line);
    if (kept !== '' || lines.at(-1) !== '') lines.push(kept);
  }
  return lines.join('\n').trim();
}
