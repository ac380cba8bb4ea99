import { v7 as uuidv7, validate } from 'uuid';

/** UUIDv7: time-ordered, so ids sort by creation and index inserts stay append-only. */
export function newId(): string {
  return uuidv7();
}

export function isUuid(value: string): boolean {
  return validate(value);
}
