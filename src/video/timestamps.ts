/**
 * Frame timing for the encoder. Raw frames piped into ffmpeg carry no times, so they are given
 * back: a constant-rate clip gets its rate (`-r`), a variable-rate one a `setpts` expression that
 * rebuilds each frame's original time from its index N, piece by piece (runs of equal spacing
 * become one linear piece, so a clip that changes rate a few times is a short expression).
 */

export type FrameTiming =
  | { kind: 'constant'; rate: { num: number; den: number } }
  | { kind: 'variable'; pieces: { from: number; start: number; step: number }[] };

/** Pieces beyond this make a very long expression: such clips are re-timed at their mean rate. */
export const MAX_TIMING_PIECES = 400;

export function frameTiming(timestamps: number[], rate: { num: number; den: number }): FrameTiming {
  if (timestamps.length < 2) return { kind: 'constant', rate };
  const nominal = rate.den / rate.num;
  // Container time bases round times to ~1 ms; spacing within that of the nominal step is constant.
  const tolerance = Math.max(1.5e-3, 0.02 * nominal);
  const pieces: { from: number; start: number; step: number }[] = [];
  let i = 0;
  while (i < timestamps.length - 1) {
    const step = timestamps[i + 1]! - timestamps[i]!;
    let j = i + 1;
    while (j < timestamps.length - 1 && Math.abs(timestamps[j + 1]! - timestamps[j]! - step) <= tolerance) j++;
    // The piece covers frames i..j-1 exactly; frame j starts the next (or is the last).
    pieces.push({ from: i, start: timestamps[i]! - timestamps[0]!, step: (timestamps[j]! - timestamps[i]!) / (j - i) });
    i = j;
  }
  if (pieces.length === 1 && Math.abs(pieces[0]!.step - nominal) <= tolerance) return { kind: 'constant', rate };
  if (pieces.length > MAX_TIMING_PIECES) {
    const mean = (timestamps[timestamps.length - 1]! - timestamps[0]!) / (timestamps.length - 1);
    return { kind: 'constant', rate: { num: Math.round(1e6 / mean), den: 1e6 } };
  }
  return { kind: 'variable', pieces };
}

/** The `setpts` expression of a variable timing, in seconds (divide by TB in the filter). */
export function timingExpression(pieces: { from: number; start: number; step: number }[]): string {
  // Built from the last piece inwards: if(lt(N,from_k), <earlier pieces>, <piece k>).
  let expr = linear(pieces[pieces.length - 1]!);
  for (let k = pieces.length - 2; k >= 0; k--) expr = `if(lt(N,${pieces[k + 1]!.from}),${linear(pieces[k]!)},${expr})`;
  return expr;
}

function linear(p: { from: number; start: number; step: number }): string {
  return `(${p.start.toFixed(6)}+(N-${p.from})*${p.step.toFixed(9)})`;
}
