/**
 * A failed job's message comes from deep inside a method or the model store, whose hints are
 * written for a person at the server's terminal and may name local files (the model folder, a
 * mirror folder). Over HTTP those paths are replaced, so no error tells a client about the
 * server's file system. URLs are kept: they point at public pages.
 */

const PLACEHOLDER = '<server path>';

/** Absolute POSIX paths (two segments or more) and Windows drive paths not inside a URL. */
const ABSOLUTE = /(?<![\w:/.~-])(?:\/(?:[\w.@+-]+\/)+[\w.@+-]*|[A-Za-z]:\\[^\s'"`;,]+)/g;

export function redactPaths(text: string): string {
  return text.replace(ABSOLUTE, PLACEHOLDER);
}

/** Every text field of an error (message, hint, expected, received, subject) redacted. */
export function redactError<E extends { message: string } | undefined>(error: E): E {
  if (!error) return error;
  return Object.fromEntries(Object.entries(error).map(([k, v]) => [k, typeof v === 'string' ? redactPaths(v) : v])) as E;
}
