/**
 * Every failure a user can cause or meet is an `AtelierError` with a stable `code`.
 * The message always says what was expected, what was received and what to do.
 */

/** Stable error codes, with what each means. A test checks each one is thrown somewhere in src and listed in README.md with its exit code and HTTP status. */
export const ERROR_CODES = {
  E_USAGE: 'The command line was malformed (unknown flag, missing argument).',
  E_PARAM: 'A parameter failed validation (type, range, NaN, unknown name).',
  E_METHOD_UNKNOWN: 'No method is registered under that id.',
  E_INPUT_MISSING: 'A required input image (content, style, …) was not given.',
  E_FILE_NOT_FOUND: 'A path does not exist or is not a regular file.',
  E_IMAGE_DECODE: 'A file could not be decoded as an image (corrupt, truncated, not an image).',
  E_IMAGE_EMPTY: 'An image has zero width or height.',
  E_TOO_LARGE: 'An image or upload exceeds the configured pixel or byte limit.',
  E_MASK_MISMATCH: 'A mask does not fit its image (different aspect ratio, no matching regions).',
  E_OUTPUT_EXISTS: 'The output file exists and --force was not given.',
  E_OUTPUT_WRITE: 'The output could not be written (missing directory, permissions, disk).',
  E_FORMAT: 'An output format is not supported or does not fit the data.',
  E_ABORTED: 'The run was cancelled through its AbortSignal.',
  E_WEIGHTS_MISSING: 'A method needs model weights that are not installed.',
  E_WEIGHTS_INVALID: 'A weight file is corrupt, has missing or mis-shaped tensors, or fails its checksum.',
  E_WEIGHTS_CORRUPT: 'A model file is truncated or damaged, or is not in the format it was read as (the message says where it broke).',
  E_LICENCE: "A model's licence limits its use (non-commercial, academic only, use restrictions) and its terms were not accepted (--accept-licence).",
  E_DOWNLOAD: 'A download failed (network, HTTP status, interrupted transfer).',
  E_ENGINE: 'The neural engine (ONNX Runtime) failed to build or run a graph.',
  E_NUMERIC: 'A computation produced non-finite values or failed to converge.',
  E_DEPENDENCY: 'An external program or package the feature needs is absent.',
  E_JOB: 'A server job could not be found, cancelled or run.',
  E_UNAUTHORIZED: 'The server wants a bearer token (--token) and the request had none or a wrong one.',
  E_FORBIDDEN: 'The server refused a request from a foreign Host name or a cross-site Origin.',
  E_HTTP_METHOD: 'The HTTP method is not one the route answers to (405).',
  E_BUSY: 'The server is at its limit (queue full, port in use): try again later or elsewhere.',
  E_INTERNAL: 'A bug in Atelier: please report it with the command that caused it.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AtelierErrorDetails {
  /** What the caller should have given, e.g. "a number in [0, 1]". */
  expected?: string;
  /** What the caller gave, already formatted for humans. */
  received?: string;
  /** What to do about it, e.g. "run `atelier models pull vgg19`". */
  hint?: string;
  /** Where the value came from: a parameter path, a file name. */
  subject?: string;
  cause?: unknown;
}

export class AtelierError extends Error {
  override readonly name = 'AtelierError';
  readonly code: ErrorCode;
  readonly expected?: string;
  readonly received?: string;
  readonly hint?: string;
  readonly subject?: string;

  constructor(code: ErrorCode, summary: string, details: AtelierErrorDetails = {}) {
    super(composeMessage(summary, details), details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.expected = details.expected;
    this.received = details.received;
    this.hint = details.hint;
    this.subject = details.subject;
  }

  /** A plain object for JSON output (CLI --json, HTTP bodies). */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.subject !== undefined && { subject: this.subject }),
      ...(this.expected !== undefined && { expected: this.expected }),
      ...(this.received !== undefined && { received: this.received }),
      ...(this.hint !== undefined && { hint: this.hint }),
    };
  }
}

function composeMessage(summary: string, d: AtelierErrorDetails): string {
  let msg = summary;
  if (d.expected !== undefined || d.received !== undefined) {
    const parts: string[] = [];
    if (d.expected !== undefined) parts.push(`expected ${d.expected}`);
    if (d.received !== undefined) parts.push(`received ${d.received}`);
    msg += `: ${parts.join(', ')}`;
  }
  if (d.hint !== undefined) msg += `. ${capitalise(d.hint)}`;
  if (!/[.!?]$/.test(msg)) msg += '.';
  return msg;
}

function capitalise(s: string): string {
  return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
}

export function isAtelierError(e: unknown): e is AtelierError {
  return e instanceof AtelierError;
}

/** Describe any value for a "received …" clause: `-3 (number)`, `"abc" (string)`, `NaN`. */
export function describeValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `${v} (number)`;
  if (typeof v === 'string') return `${JSON.stringify(v.length > 60 ? v.slice(0, 57) + '…' : v)} (string)`;
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v;
}

/** Wrap a foreign failure (sharp, ORT, fs) into an AtelierError, keeping it as `cause`. */
export function wrapError(e: unknown, code: ErrorCode, summary: string, details: AtelierErrorDetails = {}): AtelierError {
  if (e instanceof AtelierError) return e;
  const reason = e instanceof Error ? e.message : String(e);
  return new AtelierError(code, `${summary} (${reason})`, { ...details, cause: e });
}

/** Throw E_ABORTED if the signal has fired. Methods call this between steps. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AtelierError('E_ABORTED', 'The run was cancelled', { hint: 'start it again to get a result', cause: signal.reason });
  }
}

/** CLI exit status for an error: 2 for usage-type errors, 1 for runtime ones. */
export function exitCodeFor(e: unknown): 1 | 2 {
  if (!(e instanceof AtelierError)) return 1;
  switch (e.code) {
    case 'E_USAGE':
    case 'E_PARAM':
    case 'E_METHOD_UNKNOWN':
    case 'E_INPUT_MISSING':
    case 'E_LICENCE':
    // An output format the data cannot take is the command line's mistake, found before any work.
    case 'E_FORMAT':
      return 2;
    default:
      return 1;
  }
}

/** HTTP status for an error (server). */
export function httpStatusFor(e: unknown): number {
  if (!(e instanceof AtelierError)) return 500;
  switch (e.code) {
    case 'E_USAGE':
    case 'E_PARAM':
    case 'E_INPUT_MISSING':
    case 'E_IMAGE_DECODE':
    case 'E_IMAGE_EMPTY':
    case 'E_MASK_MISMATCH':
    case 'E_FORMAT':
      return 400;
    case 'E_METHOD_UNKNOWN':
    case 'E_FILE_NOT_FOUND':
    case 'E_JOB':
      return 404;
    case 'E_UNAUTHORIZED':
      return 401;
    case 'E_FORBIDDEN':
    case 'E_LICENCE':
      return 403;
    case 'E_HTTP_METHOD':
      return 405;
    case 'E_BUSY':
      return 503;
    case 'E_TOO_LARGE':
      return 413;
    case 'E_ABORTED':
    case 'E_OUTPUT_EXISTS':
      return 409;
    case 'E_WEIGHTS_MISSING':
    case 'E_DEPENDENCY':
      return 503;
    default:
      return 500;
  }
}
