import { AtelierError } from '../../core/errors.js';

/** What broke in a damaged model file: what the reader expected there and what it found. */
export interface CorruptDetails {
  expected?: string;
  received?: string;
  /** Overrides the format's own hint where one case needs another fix. */
  hint?: string;
  cause?: unknown;
}

export type CorruptFileError = (file: string, summary: string, details?: CorruptDetails) => AtelierError;

/**
 * The way every format reader refuses a damaged or mislabelled file: E_WEIGHTS_CORRUPT naming the
 * file, what was expected and what was found (where it broke goes in the summary or `received`).
 * Readers differ only in the advice, so each binds its format's hint once.
 */
export function corruptFileErrors(hint: string): CorruptFileError {
  return (file, summary, details = {}) =>
    new AtelierError('E_WEIGHTS_CORRUPT', summary, {
      subject: file,
      hint,
      ...(details.expected !== undefined && { expected: details.expected }),
      ...(details.received !== undefined && { received: details.received }),
      ...(details.hint !== undefined && { hint: details.hint }),
      ...(details.cause !== undefined && { cause: details.cause }),
    });
}
