import type { Graph, Tensor } from '../../src/engine/graph/graph.js';
import type { OpName } from '../../src/engine/graph/ops.js';

/**
 * A float64 interpreter of the builder's forward ops, written plainly for checking: gradient
 * checks take central differences on it (ORT has no float64 Conv), so rounding in the reference
 * is ~1e-16 and the comparison measures the backward rules, not float32 noise.
 */

export interface Nd {
  data: Float64Array;
  shape: number[];
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const strides = (s: number[]) => {
  const st = new Array<number>(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1]! * s[i + 1]!;
  return st;
};

function broadcastBinary(a: Nd, b: Nd, f: (x: number, y: number) => number): Nd {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...new Array(rank - a.shape.length).fill(1), ...a.shape];
  const pb = [...new Array(rank - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]!));
  const sa = strides(pa).map((s, i) => (pa[i] === 1 ? 0 : s));
  const sb = strides(pb).map((s, i) => (pb[i] === 1 ? 0 : s));
  const so = strides(shape);
  const out = new Float64Array(size(shape));
  for (let k = 0; k < out.length; k++) {
    let ia = 0;
    let ib = 0;
    let r = k;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(r / so[d]!);
      r -= c * so[d]!;
      ia += c * sa[d]!;
      ib += c * sb[d]!;
    }
    out[k] = f(a.data[ia]!, b.data[ib]!);
  }
  return { data: out, shape };
}

const map = (a: Nd, f: (x: number) => number): Nd => ({ data: a.data.map(f), shape: a.shape });

/**
 * erf in float64: its Maclaurin series below |x| = 3 (terms fall below 1e-17 of the sum), and
 * above, 1 − erfc from erfc's continued fraction (Abramowitz & Stegun 7.1.14), evaluated from the tail.
 */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let k = ax;
  for (let i = 60; i >= 1; i--) k = ax + i / 2 / k;
  const erfc = Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * k);
  return Math.sign(x) * (1 - erfc);
}

function conv(x: Nd, w: Nd, b: Nd | undefined, at: Record<string, number[] | number>): Nd {
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  const [sh, sw] = at.stride as number[];
  const [dh, dw] = at.dilation as number[];
  const [pt, pl, pb, pr] = at.pads as number[];
  const groups = at.groups as number;
  const ho = Math.floor((h + pt! + pb! - dh! * (kh - 1) - 1) / sh!) + 1;
  const wo = Math.floor((wd + pl! + pr! - dw! * (kw - 1) - 1) / sw!) + 1;
  const out = new Float64Array(n * cout * ho * wo);
  const coutG = cout / groups;
  for (let b0 = 0; b0 < n; b0++)
    for (let co = 0; co < cout; co++) {
      const grp = Math.floor(co / coutG);
      for (let y = 0; y < ho; y++)
        for (let xx = 0; xx < wo; xx++) {
          let s = b ? b.data[co]! : 0;
          for (let ci = 0; ci < cinG; ci++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = y * sh! - pt! + i * dh!;
                const ix = xx * sw! - pl! + j * dw!;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += x.data[((b0 * cin + grp * cinG + ci) * h + iy) * wd + ix]! * w.data[((co * cinG + ci) * kh + i) * kw + j]!;
              }
          out[((b0 * cout + co) * ho + y) * wo + xx] = s;
        }
    }
  return { data: out, shape: [n, cout, ho, wo] };
}

/** ConvTranspose by its definition: each input pixel scatters its kernel-weighted values. */
function convTranspose(x: Nd, w: Nd, b: Nd | undefined, at: Record<string, number[] | number>): Nd {
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [, cout, kh, kw] = w.shape as [number, number, number, number];
  const [sh, sw] = at.stride as number[];
  const [pt, pl, pb, pr] = at.pads as number[];
  const [oh, ow] = at.outputPadding as number[];
  const ho = (h - 1) * sh! - pt! - pb! + kh + oh!;
  const wo = (wd - 1) * sw! - pl! - pr! + kw + ow!;
  const out = new Float64Array(n * cout * ho * wo);
  for (let b0 = 0; b0 < n; b0++)
    for (let co = 0; co < cout; co++) {
      if (b) out.fill(b.data[co]!, (b0 * cout + co) * ho * wo, (b0 * cout + co + 1) * ho * wo);
      for (let ci = 0; ci < cin; ci++)
        for (let y = 0; y < h; y++)
          for (let xx = 0; xx < wd; xx++) {
            const v = x.data[((b0 * cin + ci) * h + y) * wd + xx]!;
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const oy = y * sh! - pt! + i;
                const ox = xx * sw! - pl! + j;
                if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
                out[((b0 * cout + co) * ho + oy) * wo + ox]! += v * w.data[((ci * cout + co) * kh + i) * kw + j]!;
              }
          }
    }
  return { data: out, shape: [n, cout, ho, wo] };
}

function pad(x: Nd, pads: number[], mode: string): Nd {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [t, l, b, r] = pads as [number, number, number, number];
  const H = h + t + b;
  const W = w + l + r;
  const out = new Float64Array(n * c * H * W);
  const refl = (i: number, len: number) => (mode === 'edge' ? Math.min(len - 1, Math.max(0, i)) : i < 0 ? -i : i >= len ? 2 * len - 2 - i : i);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++) {
        let iy = y - t;
        let ix = xx - l;
        if (mode === 'constant') {
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        } else {
          iy = refl(iy, h);
          ix = refl(ix, w);
        }
        out[(p * H + y) * W + xx] = x.data[(p * h + iy) * w + ix]!;
      }
  return { data: out, shape: [n, c, H, W] };
}

function pool(x: Nd, at: Record<string, number[]>, max: boolean): Nd {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [kh, kw] = at.kernel as [number, number];
  const [sh, sw] = at.stride as [number, number];
  const [pt, pl, pb, pr] = at.pads as [number, number, number, number];
  const round = (at as unknown as { ceil?: boolean }).ceil ? Math.ceil : Math.floor;
  const ho = round((h + pt + pb - kh) / sh) + 1;
  const wo = round((w + pl + pr - kw) / sw) + 1;
  const out = new Float64Array(n * c * ho * wo);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < ho; y++)
      for (let xx = 0; xx < wo; xx++) {
        let acc = max ? -Infinity : 0;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const iy = y * sh - pt + i;
            const ix = xx * sw - pl + j;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const v = x.data[(p * h + iy) * w + ix]!;
            acc = max ? Math.max(acc, v) : acc + v;
          }
        out[(p * ho + y) * wo + xx] = max ? acc : acc / (kh * kw);
      }
  return { data: out, shape: [n, c, ho, wo] };
}

function transpose(x: Nd, perm: number[]): Nd {
  const si = strides(x.shape);
  return gatherAxes(x, perm.map((p) => x.shape[p]!), (d, c) => c * si[perm[d]!]!);
}

/** out[c₀, c₁, …] = x at Σ_d offset(d, c_d): transposes and slices are both this. */
function gatherAxes(x: Nd, shape: number[], offset: (axis: number, index: number) => number): Nd {
  const so = strides(shape);
  const out = new Float64Array(size(shape));
  for (let k = 0; k < out.length; k++) {
    let r = k;
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(r / so[d]!);
      r -= c * so[d]!;
      src += offset(d, c);
    }
    out[k] = x.data[src]!;
  }
  return { data: out, shape };
}

function reduce(x: Nd, axes: number[], keep: boolean, mean: boolean): Nd {
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const so = strides(keptShape);
  const si = strides(x.shape);
  const out = new Float64Array(size(keptShape));
  for (let k = 0; k < x.data.length; k++) {
    let r = k;
    let dst = 0;
    for (let d = 0; d < x.shape.length; d++) {
      const c = Math.floor(r / si[d]!);
      r -= c * si[d]!;
      if (!axes.includes(d)) dst += c * so[d]!;
    }
    out[dst]! += x.data[k]!;
  }
  const count = x.data.length / out.length;
  if (mean) for (let i = 0; i < out.length; i++) out[i]! /= count;
  return { data: out, shape: keep ? keptShape : x.shape.filter((_, i) => !axes.includes(i)) };
}

function slice(x: Nd, axes: number[], starts: number[], ends: number[], steps: number[]): Nd {
  const ranges = x.shape.map((d) => Array.from({ length: d }, (_, i) => i));
  axes.forEach((a, i) => {
    const d = x.shape[a]!;
    const step = steps[i]!;
    const norm = (v: number) => (v < 0 ? v + d : v);
    const idx: number[] = [];
    if (step > 0) for (let k = Math.max(0, norm(starts[i]!)); k < Math.min(d, norm(ends[i]!)); k += step) idx.push(k);
    else for (let k = Math.min(d - 1, norm(starts[i]!)); k > Math.max(-1, norm(ends[i]!)); k += step) idx.push(k);
    ranges[a] = idx;
  });
  const si = strides(x.shape);
  return gatherAxes(x, ranges.map((r) => r.length), (d, c) => ranges[d]![c]! * si[d]!);
}

function concat(xs: Nd[], axis: number): Nd {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
  const outer = size(shape.slice(0, axis));
  const out = new Float64Array(size(shape));
  let o = 0;
  for (let p = 0; p < outer; p++)
    for (const x of xs) {
      const block = size(x.shape.slice(axis));
      out.set(x.data.subarray(p * block, (p + 1) * block), o);
      o += block;
    }
  return { data: out, shape };
}

function matmul(a: Nd, b: Nd): Nd {
  const m = a.shape.at(-2)!;
  const k = a.shape.at(-1)!;
  const n = b.shape.at(-1)!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = batchA.length >= batchB.length ? batchA : batchB;
  const count = size(batch);
  const out = new Float64Array(count * m * n);
  for (let t = 0; t < count; t++) {
    const oa = (size(batchA) === 1 ? 0 : t) * m * k;
    const ob = (size(batchB) === 1 ? 0 : t) * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a.data[oa + i * k + q]! * b.data[ob + q * n + j]!;
        out[t * m * n + i * n + j] = s;
      }
  }
  return { data: out, shape: [...batch, m, n] };
}

/** One interpreter case per op but `onnx` (a missing one is a compile error; OpName is in src/engine/graph/ops.ts). */
type Interpret = (ins: Nd[], a: Record<string, never>) => Nd[];
export const INTERPRETER: Record<Exclude<OpName, 'onnx'>, Interpret> = {
  conv: (ins, a) => [conv(ins[0]!, ins[1]!, ins[2], a)],
  convTranspose: (ins, a) => [convTranspose(ins[0]!, ins[1]!, ins[2], a)],
  pad: (ins, a) => [pad(ins[0]!, a.pads, a.mode)],
  maxPool: (ins, a) => {
    const y = pool(ins[0]!, a, true);
    return [y, y];
  },
  avgPool: (ins, a) => [pool(ins[0]!, a, false)],
  depthToSpace: (ins, a) => {
    const x = ins[0]!;
    const b = a.block as number;
    const [n, cb, h, w] = x.shape as [number, number, number, number];
    const c = cb / (b * b);
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h * b; y++)
          for (let xx = 0; xx < w * b; xx++) {
            const src = ((i * cb + ((y % b) * b + (xx % b)) * c + ch) * h + Math.floor(y / b)) * w + Math.floor(xx / b);
            out[((i * c + ch) * h * b + y) * w * b + xx] = x.data[src]!;
          }
    return [{ data: out, shape: [n, c, h * b, w * b] }];
  },
  resize: (ins, a) => {
    const x = ins[0]!;
    const s = a.scale as number;
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const H = Math.floor(h * s);
    const W = Math.floor(w * s);
    const out = new Float64Array(n * c * H * W);
    if (a.mode === 'linear') {
      // Half-pixel centres (or asymmetric corners: o/s), source coordinate clamped to the image
      // (ONNX Runtime, antialias off).
      const asymmetric = a.coordinates === 'asymmetric';
      const taps = (o: number, len: number): [number, number, number] => {
        const src = Math.min(len - 1, Math.max(0, asymmetric ? o / s : (o + 0.5) / s - 0.5));
        const i0 = Math.floor(src);
        return [i0, Math.min(i0 + 1, len - 1), src - i0];
      };
      for (let p = 0; p < n * c; p++)
        for (let y = 0; y < H; y++) {
          const [y0, y1, fy] = taps(y, h);
          for (let xx = 0; xx < W; xx++) {
            const [x0, x1, fx] = taps(xx, w);
            const at = (yy: number, xc: number) => x.data[(p * h + yy) * w + xc]!;
            const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
            const bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
            out[(p * H + y) * W + xx] = top * (1 - fy) + bottom * fy;
          }
        }
      return [{ data: out, shape: [n, c, H, W] }];
    }
    for (let p = 0; p < n * c; p++)
      for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) out[(p * H + y) * W + xx] = x.data[(p * h + Math.floor(y / s)) * w + Math.floor(xx / s)]!;
    return [{ data: out, shape: [n, c, H, W] }];
  },
  instanceNorm: (ins, a) => {
    const [x, sc, bi] = ins as [Nd, Nd, Nd];
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const out = new Float64Array(x.data.length);
    const hw = h * w;
    for (let p = 0; p < n * c; p++) {
      let m = 0;
      for (let i = 0; i < hw; i++) m += x.data[p * hw + i]!;
      m /= hw;
      let v = 0;
      for (let i = 0; i < hw; i++) v += (x.data[p * hw + i]! - m) ** 2;
      v /= hw;
      const inv = 1 / Math.sqrt(v + (a.eps as number));
      for (let i = 0; i < hw; i++) out[p * hw + i] = (x.data[p * hw + i]! - m) * inv * sc.data[p % c]! + bi.data[p % c]!;
    }
    return [{ data: out, shape: x.shape }];
  },
  relu: (ins, a) => [map(ins[0]!, (v) => Math.max(0, v))],
  leakyRelu: (ins, a) => [map(ins[0]!, (v) => (v > 0 ? v : v * (a.alpha as number)))],
  tanh: (ins, a) => [map(ins[0]!, Math.tanh)],
  sigmoid: (ins, a) => [map(ins[0]!, (v) => 1 / (1 + Math.exp(-v)))],
  erf: (ins, a) => [map(ins[0]!, erf)],
  exp: (ins, a) => [map(ins[0]!, Math.exp)],
  log: (ins, a) => [map(ins[0]!, Math.log)],
  sqrt: (ins, a) => [map(ins[0]!, Math.sqrt)],
  neg: (ins, a) => [map(ins[0]!, (v) => -v)],
  abs: (ins, a) => [map(ins[0]!, Math.abs)],
  atLeast: (ins, a) => [map(ins[0]!, (v) => (v >= (a.threshold as number) ? 1 : 0))],
  add: (ins, a) => [broadcastBinary(ins[0]!, ins[1]!, (p, q) => p + q)],
  sub: (ins, a) => [broadcastBinary(ins[0]!, ins[1]!, (p, q) => p - q)],
  mul: (ins, a) => [broadcastBinary(ins[0]!, ins[1]!, (p, q) => p * q)],
  div: (ins, a) => [broadcastBinary(ins[0]!, ins[1]!, (p, q) => p / q)],
  matmul: (ins, a) => [matmul(ins[0]!, ins[1]!)],
  transpose: (ins, a) => [transpose(ins[0]!, a.perm)],
  reshape: (ins, a) => {
    const x = ins[0]!;
    const shape = (a.shape as number[]).map((s, i) => (s === 0 ? x.shape[i]! : s));
    const u = shape.indexOf(-1);
    if (u >= 0) shape[u] = x.data.length / -size(shape);
    return [{ data: x.data, shape }];
  },
  reshapeLike: (ins, a) => [{ data: ins[0]!.data, shape: ins[1]!.shape }],
  reduceSum: (ins, a) => [reduce(ins[0]!, a.axes, a.keepdims, false)],
  reduceMean: (ins, a) => [reduce(ins[0]!, a.axes, a.keepdims, true)],
  elementCount: (ins, a) => [{ data: Float64Array.of((a.axes as number[]).reduce((p, ax) => p * ins[0]!.shape[ax]!, 1)), shape: [] }],
  softmax: (ins, a) => {
    const x = ins[0]!;
    const axis = a.axis as number;
    const m = reduce(map(x, Math.exp), [axis], true, false);
    return [broadcastBinary(map(x, Math.exp), m, (p, q) => p / q)];
  },
  concat: (ins, a) => [concat(ins, a.axis)],
  split: (ins, a) => {
    const sizes = a.sizes as number[];
    let s = 0;
    return sizes.map((len) => {
      const piece = slice(ins[0]!, [a.axis], [s], [s + len], [1]);
      s += len;
      return piece;
    });
  },
  slice: (ins, a) => [slice(ins[0]!, a.axes, a.starts, a.ends, a.steps)],
  gather: (ins, a) => {
    const [x, idx] = ins as [Nd, Nd];
    const axis = a.axis as number;
    const si = strides(x.shape);
    const shape = x.shape.map((d, i) => (i === axis ? idx.data.length : d));
    return [gatherAxes(x, shape, (d, c) => (d === axis ? idx.data[c]! : c) * si[d]!)];
  },
  reverseTaps: (ins, a) => [slice(ins[0]!, [2, 3], [-1, -1], [-(2 ** 53 - 1), -(2 ** 53 - 1)], [-1, -1])],
};

function evalNode(op: Exclude<OpName, 'onnx'>, ins: Nd[], at: Record<string, unknown>): Nd[] {
  return INTERPRETER[op](ins, at as Record<string, never>);
}

/** Evaluate `target` given values for inputs and (optionally) params by name; the rest come from the graph. */
export function evaluate(g: Graph, target: Tensor, feeds: Record<string, Nd>): Nd {
  const values = new Map<number, Nd>();
  for (const t of g.tensors) {
    if (feeds[t.name] && (t.kind === 'input' || t.kind === 'param')) values.set(t.id, feeds[t.name]!);
    else if (t.kind === 'constant' && t.dtype === 'int64') values.set(t.id, { data: Float64Array.from(g.data.get(t.id) as BigInt64Array, Number), shape: t.shape as number[] });
    else if (t.kind !== 'value' && t.dtype !== 'int64') values.set(t.id, { data: Float64Array.from(g.data.get(t.id) as Float32Array), shape: t.shape as number[] });
  }
  for (const n of g.nodes) {
    if (n.id > target.producer!.id) break;
    if (n.op === 'onnx') continue;
    const outs = evalNode(n.op, n.inputs.map((t) => values.get(t.id)!), n.attrs);
    n.outputs.forEach((o, i) => values.set(o.id, outs[i]!));
  }
  return values.get(target.id)!;
}
