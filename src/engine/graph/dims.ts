/**
 * Symbolic sizes. A dimension is a number when known when the graph is built, or a string naming a
 * size fixed only at run time (`H`, `W`, or a derived expression such as `H|pool2`). Two equal
 * strings are the same size; a symbolic size is assumed never to be 1 (broadcasting needs to know
 * which axes are 1 when the graph is built).
 */
export type Dim = number | string;

/** Output size of a sliding window (conv, pool) of extent k, pads p0/p1, stride s, dilation d. */
export function windowDim(size: Dim, k: number, p0: number, p1: number, s: number, d: number): Dim {
  const span = d * (k - 1) + 1;
  if (typeof size === 'number') return Math.floor((size + p0 + p1 - span) / s) + 1;
  // A reflect/zero pad followed by an unpadded window: fold the pad in (`H+2` then k=3 → `H`).
  const padded = /^(.*)\+(\d+)$/.exec(size);
  if (padded) return windowDim(padded[1]!, k, p0 + Number(padded[2]), p1, s, d);
  if (s === 1 && p0 + p1 === span - 1) return size;
  return `${size}|w${k},${p0},${p1},${s},${d}`;
}

/**
 * Output size of a transposed window (ConvTranspose): (size − 1)·s − p0 − p1 + k + outputPadding.
 * The usual ×s upsampling layers (k 3, pad 1, output padding 1; k 4, pad 1) keep the name `size*s`.
 */
export function transposedWindowDim(size: Dim, k: number, p0: number, p1: number, s: number, outputPadding: number): Dim {
  const extra = k + outputPadding - s - p0 - p1;
  if (typeof size === 'number') return size * s + extra;
  return extra === 0 ? scaleDim(size, s) : `${size}|t${k},${p0},${p1},${s},${outputPadding}`;
}

export function scaleDim(size: Dim, factor: number): Dim {
  if (typeof size === 'number') return Math.floor(size * factor);
  return factor === 1 ? size : `${size}*${factor}`;
}

export function addDim(size: Dim, n: number): Dim {
  if (typeof size === 'number') return size + n;
  return n === 0 ? size : `${size}+${n}`;
}

export function broadcastDims(a: Dim[], b: Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (typeof da === 'number' && typeof db === 'number') {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    } else out.push(typeof da === 'number' ? da : db);
  }
  return out;
}

export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}
