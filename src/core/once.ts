/**
 * `make` run on the first call and its value kept: for what a request may never use (a
 * service, a loader, a child logger), so a request pays only for what it touches.
 */
export function once<T>(make: () => T): () => T {
  let made = false;
  let value: T;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value;
  };
}
