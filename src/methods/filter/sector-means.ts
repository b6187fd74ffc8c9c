import { FunctionBody, singleFunctionModule } from './wasm-writer.js';

/**
 * The inner loop of the Kuwahara filters as a WebAssembly SIMD kernel: for each pixel of a span,
 * the weighted means of (r, g, b, r²+g²+b²) over each sector's taps. Pixels are stored as four
 * floats, so one tap is one 128-bit load and one multiply-add; the taps' sectors and weights are
 * compiled into the code (the loop is fully unrolled), and the taps' positions come from a table
 * chosen per pixel (the pixel's ellipse). In JavaScript the same loop spends most of its time on
 * bounds and type checks; here it runs about four times faster. Sums are in float32, ample for
 * means of values in [0, 1] over a few dozen taps.
 */

/** The WebAssembly API this file uses (Node provides it; the ES library the project compiles against does not declare it). */
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

export interface SectorMeansWorkspace {
  /** The padded canvas, four floats (r, g, b, r²+g²+b²) per pixel. */
  canvas: Float32Array;
  /** Per ellipse bin, per entry: the tap's offset from the centre pixel, in bytes (16 per pixel). */
  offsets: Int32Array;
  /** Per pixel of a span: its bin's first entry in `offsets` (set by the caller before `run`). */
  bins: Int32Array;
  /** Per pixel of a span, per sector: the four means, written by `run`. */
  means: Float32Array;
  /** Fill `means` for `count` pixels (at most `spanPixels`) whose first centre is canvas pixel `centre`. */
  run(centre: number, count: number): void;
}

const modules = new Map<string, WasmModule>();

function compile(taps: SectorTaps): WasmModule {
  const sectors = taps.group.length - 1;
  const [CENTRE, BINS, COUNT, OUT, TABLE, ACC] = [0, 1, 2, 3, 4, 5];
  const f = new FunctionBody();
  f.block().loop();
  f.localGet(COUNT).i32Eqz().brIf(1);
  // The offsets table starts at address 0, so a row's address is its first entry × 4.
  f.localGet(BINS).i32Load(0).i32Const(2).i32Shl().localSet(TABLE);
  for (let k = 0; k < sectors; k++) {
    for (let e = taps.group[k]!; e < taps.group[k + 1]!; e++) {
      f.localGet(CENTRE).localGet(TABLE).i32Load(4 * e).i32Add().v128Load(0);
      f.f32Const(taps.weight[e]!).f32x4Splat().f32x4Mul();
      if (e > taps.group[k]!) f.localGet(ACC).f32x4Add();
      f.localSet(ACC);
    }
    f.localGet(OUT).localGet(ACC).v128Store(16 * k);
  }
  f.localGet(OUT).i32Const(16 * sectors).i32Add().localSet(OUT);
  f.localGet(CENTRE).i32Const(16).i32Add().localSet(CENTRE);
  f.localGet(BINS).i32Const(4).i32Add().localSet(BINS);
  f.localGet(COUNT).i32Const(1).i32Sub().localSet(COUNT);
  f.br(0).end().end();
  return new WebAssembly.Module(singleFunctionModule({ name: 'sectorMeans', params: 4, locals: ['i32', 'v128'], body: f }));
}

/** A workspace for a canvas of `canvasPixels`, `offsetEntries` table entries and spans of up to `spanPixels`. */
export function sectorMeansWorkspace(taps: SectorTaps, canvasPixels: number, offsetEntries: number, spanPixels: number): SectorMeansWorkspace {
  for (let k = 0; k + 1 < taps.group.length; k++) {
    if (!(taps.group[k + 1]! > taps.group[k]!)) throw new Error('sectorMeansWorkspace: every sector needs a tap');
  }
  const key = `${Array.from(taps.group).join(',')}|${Array.from(taps.weight).join(',')}`;
  let module = modules.get(key);
  if (!module) modules.set(key, (module = compile(taps)));
  const sectors = taps.group.length - 1;
  const align = (n: number) => Math.ceil(n / 16) * 16;
  const offsetsAt = 0;
  const canvasAt = align(offsetsAt + offsetEntries * 4);
  const binsAt = align(canvasAt + canvasPixels * 16);
  const meansAt = align(binsAt + spanPixels * 4);
  const bytes = meansAt + spanPixels * sectors * 16;
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const kernel = instance.exports.sectorMeans as (centre: number, bins: number, count: number, out: number) => void;
  const buffer = memory.buffer;
  return {
    canvas: new Float32Array(buffer, canvasAt, canvasPixels * 4),
    offsets: new Int32Array(buffer, offsetsAt, offsetEntries),
    bins: new Int32Array(buffer, binsAt, spanPixels),
    means: new Float32Array(buffer, meansAt, spanPixels * sectors * 4),
    run(centre: number, count: number) {
      kernel(canvasAt + centre * 16, binsAt, count, meansAt);
    },
  };
}
