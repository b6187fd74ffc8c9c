import { AtelierError } from '../../core/errors.js';
import { FunctionBody, singleFunctionModule, type ValueType } from '../../imaging/wasm-writer.js';

/**
 * The per-pixel work of the Kuwahara filters as a WebAssembly SIMD kernel: for each pixel of a
 * span, the weighted means of (r, g, b, r²+g²+b²) over each sector's taps, each sector's spread
 * σk, and the output Σ (σmin/σk)^q · meank / Σ (σmin/σk)^q. Pixels are stored as four floats, so
 * one tap is one 128-bit load and one multiply-add; the taps' sectors and weights and the exponent
 * q are compiled into the code (fully unrolled), and the taps' positions come from a table chosen
 * per pixel (the pixel's ellipse). In JavaScript the same loop spent most of its time on bounds
 * and type checks: about 350 ms per 1024² image on one thread (8 sectors, 72 tap entries), against
 * 65–85 ms here. Arithmetic is float32, ample for means of values in [0, 1] over a few dozen taps.
 */

/** The WebAssembly API used here: Node provides it, the ES library the project compiles against does not declare it. */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
};
type WasmModule = object;

export interface SectorTaps {
  /** Entries of sector k run from group[k] to group[k + 1]. */
  group: Int32Array;
  /** Weight of each entry (each sector's weights sum to 1). */
  weight: Float32Array;
}

export interface KuwaharaWorkspace {
  /** The padded canvas, four floats (r, g, b, r²+g²+b²) per pixel. */
  canvas: Float32Array;
  /** Per ellipse bin, per entry: the tap's offset from the centre pixel, in bytes (16 per pixel). */
  offsets: Int32Array;
  /** Per pixel of a span: its bin's first entry in `offsets` (set by the caller before `run`). */
  bins: Int32Array;
  /** Per pixel of a span: the filtered r, g and b, written by `run`. */
  out: [Float32Array, Float32Array, Float32Array];
  /** Filter `count` pixels (at most the span) whose first centre is canvas pixel `centre`. */
  run(centre: number, count: number): void;
}

/** Added to each sector's spread, so flat sectors tie instead of dividing by 0. */
const SPREAD_FLOOR = 0.004;
/** Binary digits of the fractional part of a non-integer q (taken by repeated square roots). */
const Q_FRACTION_BITS = 8;

const modules = new Map<string, WasmModule>();

function compile(taps: SectorTaps, q: number): WasmModule {
  const S = taps.group.length - 1;
  // Parameters, then locals: per-sector sums and spreads, and scratch.
  const [CENTRE, BINS, COUNT, OUT_R, OUT_G, OUT_B] = [0, 1, 2, 3, 4, 5];
  const TABLE = 6;
  const ACC = 7; // ACC + k, v128
  const SD = ACC + S; // SD + k, f32
  const [SMIN, TW, BASE, POW, ROOT, COLOUR] = [SD + S, SD + S + 1, SD + S + 2, SD + S + 3, SD + S + 4, SD + S + 5];
  const locals: ValueType[] = ['i32', ...Array<ValueType>(S).fill('v128'), ...Array<ValueType>(S + 5).fill('f32'), 'v128'];
  const f = new FunctionBody();
  f.block().loop();
  f.localGet(COUNT).i32Eqz().brIf(1);
  // The offsets table starts at address 0, so a row's address is its first entry × 4.
  f.localGet(BINS).i32Load(0).i32Const(2).i32Shl().localSet(TABLE);
  for (let k = 0; k < S; k++) {
    for (let e = taps.group[k]!; e < taps.group[k + 1]!; e++) {
      f.localGet(CENTRE).localGet(TABLE).i32Load(4 * e).i32Add().v128Load(0);
      f.f32Const(taps.weight[e]!).f32x4Splat().f32x4Mul();
      if (e > taps.group[k]!) f.localGet(ACC + k).f32x4Add();
      f.localSet(ACC + k);
    }
    // σk = √max(0, E[r²+g²+b²] − |mean|²) + floor.
    f.localGet(ACC + k).f32x4ExtractLane(3);
    for (let c = 0; c < 3; c++) f.localGet(ACC + k).f32x4ExtractLane(c).localTee(BASE).localGet(BASE).f32Mul().f32Sub();
    f.f32Const(0).f32Max().f32Sqrt().f32Const(SPREAD_FLOOR).f32Add().localTee(SD + k);
    if (k > 0) f.localGet(SMIN).f32Min();
    f.localSet(SMIN);
  }
  // Output: Σ wk·meank / Σ wk with wk = (σmin/σk)^q.
  for (let k = 0; k < S; k++) {
    f.localGet(SMIN).localGet(SD + k).f32Div().localSet(BASE);
    emitPower(f, q, BASE, POW, ROOT);
    if (k > 0) f.localGet(POW).localGet(TW).f32Add();
    else f.localGet(POW);
    f.localSet(TW);
    f.localGet(POW).f32x4Splat().localGet(ACC + k).f32x4Mul();
    if (k > 0) f.localGet(COLOUR).f32x4Add();
    f.localSet(COLOUR);
  }
  f.localGet(COLOUR).localGet(TW).f32x4Splat().f32x4Div().localSet(COLOUR);
  for (const [c, out] of [OUT_R, OUT_G, OUT_B].entries()) {
    f.localGet(out).localGet(COLOUR).f32x4ExtractLane(c).f32Store(0);
    f.localGet(out).i32Const(4).i32Add().localSet(out);
  }
  f.localGet(CENTRE).i32Const(16).i32Add().localSet(CENTRE);
  f.localGet(BINS).i32Const(4).i32Add().localSet(BINS);
  f.localGet(COUNT).i32Const(1).i32Sub().localSet(COUNT);
  f.br(0).end().end();
  return new WebAssembly.Module(singleFunctionModule({ name: 'kuwahara', params: 6, locals, body: f }));
}

/**
 * Code for local `out` = local `base` ^ q (base in (0, 1]): the fractional part's binary digits
 * by repeated square roots in `root` (q to 1/256), the integer part by squaring `base` in place.
 */
function emitPower(f: FunctionBody, q: number, base: number, out: number, root: number): void {
  let whole = Math.floor(q);
  let fraction = Math.round((q - whole) * 2 ** Q_FRACTION_BITS);
  if (fraction === 2 ** Q_FRACTION_BITS) {
    whole++;
    fraction = 0;
  }
  let started = false;
  const multiplyBy = (local: number) => {
    f.localGet(local);
    if (started) f.localGet(out).f32Mul();
    f.localSet(out);
    started = true;
  };
  if (fraction > 0) {
    f.localGet(base).localSet(root);
    // Digit j (weight 2^−j) is bit Q_FRACTION_BITS − j; stop after the last one set.
    let last = Q_FRACTION_BITS;
    while (((fraction >> (Q_FRACTION_BITS - last)) & 1) === 0) last--;
    for (let j = 1; j <= last; j++) {
      f.localGet(root).f32Sqrt().localSet(root);
      if ((fraction >> (Q_FRACTION_BITS - j)) & 1) multiplyBy(root);
    }
  }
  for (let e = whole; e > 0; e >>= 1) {
    if (e & 1) multiplyBy(base);
    if (e > 1) f.localGet(base).localGet(base).f32Mul().localSet(base);
  }
  if (!started) f.f32Const(1).localSet(out);
}

/** The compiled kernel for these taps and q (compiled once per thread, then cached). */
export function kuwaharaKernel(taps: SectorTaps, q: number): WasmModule {
  const key = `${q}|${Array.from(taps.group).join(',')}|${Array.from(taps.weight).join(',')}`;
  let module = modules.get(key);
  if (!module) modules.set(key, (module = compile(taps, q)));
  return module;
}

/** The kernel addresses memory with signed 32-bit offsets. */
const MAX_BYTES = 2 ** 31;

/** A workspace for a canvas of `canvasPixels`, `offsetEntries` table entries and spans of up to `spanPixels`. */
export function kuwaharaWorkspace(
  taps: SectorTaps,
  q: number,
  canvasPixels: number,
  offsetEntries: number,
  spanPixels: number,
): KuwaharaWorkspace {
  for (let k = 0; k + 1 < taps.group.length; k++) {
    if (!(taps.group[k + 1]! > taps.group[k]!)) throw new AtelierError('E_INTERNAL', 'Every Kuwahara sector needs at least one tap');
  }
  const module = kuwaharaKernel(taps, q);
  const align = (n: number) => Math.ceil(n / 16) * 16;
  const offsetsAt = 0;
  const canvasAt = align(offsetsAt + offsetEntries * 4);
  const binsAt = align(canvasAt + canvasPixels * 16);
  const outAt = [0, 1, 2].map((c) => align(binsAt + spanPixels * 4) + c * align(spanPixels * 4)) as [number, number, number];
  const bytes = outAt[2] + spanPixels * 4;
  if (bytes >= MAX_BYTES) {
    throw new AtelierError('E_TOO_LARGE', 'The Kuwahara filter would need more than 2 GB for one strip', {
      received: `a padded strip of ${canvasPixels} pixels`,
      hint: 'use a smaller radius, a larger eccentricity (rounder ellipses) or a smaller --max-size',
    });
  }
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  type Kernel = (centre: number, bins: number, count: number, r: number, g: number, b: number) => void;
  const kernel = instance.exports.kuwahara as Kernel;
  const buffer = memory.buffer;
  return {
    canvas: new Float32Array(buffer, canvasAt, canvasPixels * 4),
    offsets: new Int32Array(buffer, offsetsAt, offsetEntries),
    bins: new Int32Array(buffer, binsAt, spanPixels),
    out: outAt.map((at) => new Float32Array(buffer, at, spanPixels)) as [Float32Array, Float32Array, Float32Array],
    run(centre: number, count: number) {
      kernel(canvasAt + centre * 16, binsAt, count, ...outAt);
    },
  };
}
