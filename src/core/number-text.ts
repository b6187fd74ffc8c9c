import { AtelierError, type ErrorCode } from './errors.js';
import { parseDecimal } from './params.js';

/**
 * Numbers a user typed as text — CLI flags, HTTP query strings — checked where they enter, with one
 * message: "Invalid value for --threads: expected a positive integer, received "0"."
 */

export interface IntegerRange {
  /** Smallest accepted value (default 1: a positive integer). */
  min?: number;
  /** Largest accepted value (default: none). */
  max?: number;
  /** E_USAGE for command-line flags (default), E_PARAM for parameters and query strings. */
  code?: ErrorCode;
}

function describeRange(min: number, max: number): string {
  return max >= Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
}

/** A number as typed: decimals only (`12`, `1e3`; never `0x1c`, `0b1` or blank, which Number() would take). */
function numberFrom(value: unknown): number | undefined {
  return typeof value === 'number' ? value : parseDecimal(String(value));
}

/** `value` as an integer in range; `undefined` (the flag or field was not given) stays undefined. */
export function parseInteger(value: unknown, name: string, range: IntegerRange = {}): number | undefined {
  if (value === undefined) return undefined;
  const { min = 1, max = Number.MAX_SAFE_INTEGER, code = 'E_USAGE' } = range;
  const n = numberFrom(value);
  if (n === undefined || !Number.isInteger(n) || n < min || n > max) return fail();
  return n;

  function fail(): never {
    throw new AtelierError(code, `Invalid value for ${name}`, { expected: describeRange(min, max), received: JSON.stringify(String(value)), subject: name });
  }
}

/** `value` as a finite number above zero (e.g. megabytes); `undefined` stays undefined. */
export function parsePositiveNumber(value: unknown, name: string, code: ErrorCode = 'E_USAGE'): number | undefined {
  if (value === undefined) return undefined;
  const n = numberFrom(value);
  if (n === undefined || !Number.isFinite(n) || n <= 0) {
    throw new AtelierError(code, `Invalid value for ${name}`, { expected: 'a positive number', received: JSON.stringify(value), subject: name });
  }
  return n;
}
