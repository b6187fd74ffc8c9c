import { SLICE_END, type Graph, type Node, type Tensor } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import { onnx1, shapeOf } from './raw-onnx.js';

/**
 * Backward rules of the convolution. ONNX has no strided views, so every form below pays for
 * copies; they differ in what is copied, how often, and how well the matrix products are shaped.
 *
 * Input gradient: a forward conv of dY with the kernel's in/out channels swapped and its taps
 * reversed (ConvTranspose only where a stride or an over-wide pad needs it: ONNX Runtime's
 * ConvTranspose measured slower than the equivalent conv). (Going straight past a reflect pad, with the border bands from small convs, measured no
 * faster than the pad's own scatter-add: the band convs cost what the saved copies did.)
 *
 * Kernel gradient, dW[o, c, i, j] = Σ dY[o, y, x] · X[c, s·y + d·i, s·x + d·j], in the form
 * `convWeightGrad` picks by layer shape:
 * - `taps`: one slice of X per kernel tap and one product per tap; copies X taps times. General
 *   (stride, dilation, groups): the fallback. Strided taps come from column phases of X.
 * - `split`: X shifted by rows only (kh copies) and dY shifted by columns only (kw zero-padded
 *   copies), one product per tap. Copies kh·|X| + kw·|dY| instead of kh·kw·|X|: the cheapest for
 *   3×3 kernels where X and dY have similar channel counts.
 * - `swapX` / `swapDY`: a convolution with batch and channels swapped, whose kernel is the other
 *   side; ONNX Runtime's im2col then copies only the side that is the batch (X or a padded dY),
 *   once per tap. Large kernels with few channels on one side (a 9×9 conv to or from RGB).
 *
 * Every form is checked against finite differences in the tests; the choice was measured on the
 * Johnson training step (`bench/engine.mjs`).
 */

// ---------------------------------------------------------------- input gradient

export function convInputGrad(g: Graph, n: Node, gy: Tensor, x: Tensor, w: Tensor): Tensor {
  const [st, sl] = n.attrs.stride as number[];
  const [dh, dw] = n.attrs.dilation as number[];
  const [pt, pl, pb, pr] = n.attrs.pads as number[];
  const [kh, kw] = n.attrs.kernel as number[];
  const groups = n.attrs.groups as number;
  const fullH = dh! * (kh! - 1);
  const fullW = dw! * (kw! - 1);
  const flippedPads = [fullH - pt!, fullW - pl!, fullH - pb!, fullW - pr!];
  if (st === 1 && sl === 1 && flippedPads.every((p) => p >= 0)) {
    // dX = conv(dY, W with in/out channels swapped and taps flipped).
    return g.conv(gy, flippedKernel(g, n, w), undefined, { pad: flippedPads as [number, number, number, number], dilation: [dh!, dw!], groups });
  }
  return spreadTo(g, gy, w, x, { kernel: [kh!, kw!], stride: [st!, sl!], pads: [pt!, pl!, pb!, pr!], dilation: [dh!, dw!], groups });
}

/** Flipped kernels already built, per graph and weight: a weight read by several convs (a generator applied three times) is flipped once. */
const flippedKernels = new WeakMap<Graph, Map<string, Tensor>>();

/**
 * W with in/out channels swapped (per group) and its taps reversed: the input gradient's kernel.
 * Built once per weight (ONNX Runtime merges repeated transposes, but not the tap reversals, whose
 * constant permutation matrices differ by name).
 */
function flippedKernel(g: Graph, n: Node, w: Tensor): Tensor {
  const groups = n.attrs.groups as number;
  const built = flippedKernels.get(g) ?? new Map<string, Tensor>();
  flippedKernels.set(g, built);
  const key = `${w.id}/${groups}`;
  const cached = built.get(key);
  if (cached) return cached;
  const flipped = buildFlippedKernel(g, w, groups);
  built.set(key, flipped);
  return flipped;
}

function buildFlippedKernel(g: Graph, w: Tensor, groups: number): Tensor {
  const [cout, cinG, kh, kw] = w.shape as number[];
  // As few ops as possible: ORT folds each into a new copy of a constant kernel at session start,
  // and those copies set the peak memory of a VGG gradient (three fewer: 150 MB for VGG-19).
  if (groups === 1) return g.reverseTaps(g.transpose(w, [1, 0, 2, 3]));
  const wt = g.reshape(w, [groups, cout! / groups, cinG!, kh!, kw!]);
  return g.reverseTaps(g.reshape(g.transpose(wt, [0, 2, 1, 3, 4]), [cinG! * groups, cout! / groups, kh!, kw!]));
}

/**
 * ConvTranspose (the adjoint of a strided window op), then fitted to the run-time shape of `like`.
 * Only the leading pads are cropped by ConvTranspose: the trailing size depends on a remainder known
 * at run time (what `output_padding` would have to say, and cannot at build time), so the end is cut or
 * zero-padded to fit.
 */
export function spreadTo(g: Graph, gy: Tensor, kernel: Tensor, like: Tensor, a: { kernel: number[]; stride: number[]; pads: number[]; dilation?: number[]; groups: number; ceil?: boolean }): Tensor {
  const spread = g.onnx('ConvTranspose', [gy, kernel], [{ shape: ['n', like.shape[1]!, 'h', 'w'] }], {
    kernel_shape: attr.ints(a.kernel),
    strides: attr.ints(a.stride),
    pads: attr.ints([a.pads[0]!, a.pads[1]!, 0, 0]),
    dilations: attr.ints(a.dilation ?? [1, 1]),
    group: attr.i(a.groups),
  })[0]!;
  const rank = like.rank;
  // Without trailing pads (and without ceil mode) the spread never overhangs `like`: skip the cut.
  const overhangs = a.pads[2]! > 0 || a.pads[3]! > 0 || a.ceil === true;
  const cut = overhangs ? g.onnx('Slice', [spread, g.int64(new Array(rank).fill(0)), shapeOf(g, like)], [{ shape: [...like.shape], dtype: like.dtype }])[0]! : spread;
  const extra = onnx1(g, 'Sub', [shapeOf(g, like), shapeOf(g, cut)], like, {}, 'int64');
  const pads = onnx1(g, 'Concat', [g.int64(new Array(rank).fill(0)), extra], like, { axis: attr.i(0) }, 'int64');
  return g.onnx('Pad', [cut, pads], [{ shape: [...like.shape], dtype: like.dtype }], { mode: attr.s('constant') })[0]!;
}

// ---------------------------------------------------------------- kernel gradient

export type WeightGradForm = 'taps' | 'split' | 'im2col' | 'swapX' | 'swapDY';

interface ConvGeometry {
  stride: [number, number];
  dilation: [number, number];
  pads: [number, number, number, number];
  kernel: [number, number];
  groups: number;
  cout: number;
  cinPerGroup: number;
}

function geometry(n: Node, w: Tensor): ConvGeometry {
  const [cout, cinPerGroup] = w.shape as number[];
  return {
    stride: n.attrs.stride as [number, number],
    dilation: n.attrs.dilation as [number, number],
    pads: n.attrs.pads as [number, number, number, number],
    kernel: n.attrs.kernel as [number, number],
    groups: n.attrs.groups as number,
    cout: cout!,
    cinPerGroup: cinPerGroup!,
  };
}

/** Forms valid for this conv, the general one first. */
export function weightGradForms(n: Node, w: Tensor): WeightGradForm[] {
  const c = geometry(n, w);
  const plain = c.groups === 1 && c.dilation.every((d) => d === 1);
  const unit = plain && c.stride.every((s) => s === 1);
  const forms: WeightGradForm[] = ['taps'];
  if (unit) forms.push('split');
  if (c.groups === 1) forms.push('im2col', 'swapX');
  if (unit) forms.push('swapDY');
  return forms;
}

/**
 * The form with the least copying, by counting the values each form copies per output pixel: taps
 * kh·kw·cin (counted twice for kernels over 3×3, whose many thin per-tap products run slowly);
 * split kh·cin + kw·cout; swapX kh·kw·cin; swapDY kh·kw·cout. Checked on the Johnson layers: split
 * for the 3×3 ones, swapX from RGB, swapDY to RGB, taps for the strided ones. Where taps or split
 * wins, im2col takes its place: it does the same work on one thread (CycleGAN's 3×3 layers, 256
 * channels at 32² and 64²: 15.9 / 62.8 ms against split's 15.7 / 64.8; its stride-2 layers 10.9 /
 * 9.0 ms against taps' 13.7 / 9.8), but makes its copies inside one conv and consumes them with
 * one product, both spread over ONNX Runtime's threads, where taps and split copy with Slice and
 * Pad, on one thread only. Not from RGB (a 9×9 from 3 channels: 47 ms against swapX's 21).
 */
export function chooseWeightGradForm(n: Node, w: Tensor): WeightGradForm {
  const c = geometry(n, w);
  const forms = weightGradForms(n, w);
  const [kh, kw] = c.kernel;
  const taps = kh * kw;
  const cin = c.cinPerGroup * c.groups;
  const cost: Record<Exclude<WeightGradForm, 'im2col'>, number> = {
    // Small products per tap get slow for large kernels: count them at twice their copies.
    taps: taps * cin * (taps > 9 ? 2 : 1),
    split: kh * cin + kw * c.cout,
    swapX: taps * cin,
    swapDY: taps * c.cout,
  };
  const copying = forms.filter((f): f is Exclude<WeightGradForm, 'im2col'> => f !== 'im2col');
  const best = copying.reduce((b, f) => (cost[f] < cost[b] ? f : b), copying[0]!);
  return (best === 'taps' || best === 'split') && forms.includes('im2col') ? 'im2col' : best;
}

export function convWeightGrad(g: Graph, n: Node, gy: Tensor, x: Tensor, w: Tensor, form = chooseWeightGradForm(n, w)): Tensor {
  const c = geometry(n, w);
  switch (form) {
    case 'taps':
      return byTaps(g, c, gy, padded(g, x, c.pads));
    case 'split':
      return bySplit(g, c, gy, padded(g, x, c.pads));
    case 'im2col':
      return byColumns(g, c, gy, x);
    case 'swapX':
      return bySwappedX(g, c, gy, x);
    case 'swapDY':
      return bySwappedDY(g, c, gy, padded(g, x, c.pads));
  }
}

function padded(g: Graph, x: Tensor, pads: [number, number, number, number]): Tensor {
  return pads.some((p) => p > 0) ? g.pad(x, pads, 'constant') : x;
}

const end = (cut: number) => (cut > 0 ? -cut : SLICE_END);

/** [N, C, H, W] → [N, groups, C/groups, H·W]: a free reshape. */
const flatGroups = (g: Graph, t: Tensor, groups: number, perGroup: number) => g.reshape(t, [0, groups, perGroup, -1]);

/** A·Bᵀ over the last two axes, summed over the batch axis 0 (left in place when the batch is 1). */
function productSummedOverBatch(g: Graph, a: Tensor, b: Tensor): Tensor {
  const perm = b.shape.map((_, i) => i);
  [perm[b.rank - 2], perm[b.rank - 1]] = [perm[b.rank - 1]!, perm[b.rank - 2]!];
  const p = g.matmul(a, g.transpose(b, perm));
  return p.shape[0] === 1 ? p : g.reduceSum(p, [0], false);
}

/** Stack per-tap [groups, cout/g, cin/g] products (row-major taps) into [cout, cin/g, kh, kw]. */
function stackTaps(g: Graph, c: ConvGeometry, taps: Tensor[]): Tensor {
  const cols = taps.map((t) => g.reshape(t, [c.cout, c.cinPerGroup, 1]));
  const stacked = cols.length === 1 ? cols[0]! : g.concat(cols, 2);
  return g.reshape(stacked, [c.cout, c.cinPerGroup, c.kernel[0], c.kernel[1]]);
}

function byTaps(g: Graph, c: ConvGeometry, gy: Tensor, xp: Tensor): Tensor {
  const [kh, kw] = c.kernel;
  const [dh, dw] = c.dilation;
  const gyG = flatGroups(g, gy, c.groups, c.cout / c.groups);
  const window = c.stride[1] > 1 && dw === 1 ? stridedWindows(g, c, gy, xp) : undefined;
  const taps: Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const shifted = window ? window(i, j) : g.slice(xp, [2, 3], [i * dh, j * dw], [end(dh * (kh - 1 - i)), end(dw * (kw - 1 - j))], c.stride);
      taps.push(productSummedOverBatch(g, gyG, flatGroups(g, shifted, c.groups, c.cinPerGroup)));
    }
  }
  return stackTaps(g, c, taps);
}

/**
 * Strided taps without strided-column slices (ONNX Runtime copies those one element at a time):
 * X is split once into its sw column phases (columns p, p+sw, …) by a 1×1 max pool with stride
 * (1, sw), and each tap is a slice of one phase with a row step only, its ends from dY's run-time
 * size. Twice as fast for the Johnson net's stride-2 layers.
 */
function stridedWindows(g: Graph, c: ConvGeometry, gy: Tensor, xp: Tensor): (i: number, j: number) => Tensor {
  const [sh, sw] = c.stride;
  const phases = Array.from({ length: sw }, (_, p) =>
    g.onnx('MaxPool', [p > 0 ? g.slice(xp, [3], [p], [SLICE_END]) : xp], [{ shape: [xp.shape[0]!, xp.shape[1]!, 'ph', 'pw'], dtype: xp.dtype }], {
      kernel_shape: attr.ints([1, 1]),
      strides: attr.ints([1, sw]),
    })[0]!,
  );
  const outSize = g.onnx('Shape', [gy], [{ shape: [2], dtype: 'int64' }], { start: attr.i(2), end: attr.i(4) })[0]!;
  return (i, j) => {
    const p = j % sw;
    const first = [i, Math.floor(j / sw)];
    const ends = onnx1(g, 'Add', [onnx1(g, 'Mul', [outSize, g.int64([sh, 1])], outSize), g.int64([first[0]! - sh + 1, first[1]!])], outSize);
    return g.onnx('Slice', [phases[p]!, g.int64(first), ends, g.int64([2, 3]), g.int64([sh, 1])], [{ shape: [xp.shape[0]!, xp.shape[1]!, 'th', 'tw'], dtype: xp.dtype }])[0]!;
  };
}

/**
 * Stride 1: dW[:, :, i, j] = Σ dY→j · X↓i, where X↓i is X's rows i … i+Ho (whole rows: one
 * contiguous block per channel, the cheapest slice) and dY→j is dY with j zero columns on the left
 * and kw−1−j on the right, so both span X's padded width.
 */
function bySplit(g: Graph, c: ConvGeometry, gy: Tensor, xp: Tensor): Tensor {
  const [kh, kw] = c.kernel;
  const rows = Array.from({ length: kh }, (_, i) => g.reshape(g.slice(xp, [2], [i], [end(kh - 1 - i)]), [0, c.cinPerGroup, -1]));
  const columns = Array.from({ length: kw }, (_, j) => g.reshape(g.pad(gy, [0, j, 0, kw - 1 - j], 'constant'), [0, c.cout, -1]));
  const taps: Tensor[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(productSummedOverBatch(g, columns[j]!, rows[i]!));
  return stackTaps(g, c, taps);
}

/**
 * dW as one matrix product dY · colsᵀ, where cols [kh·kw·cin, Ho·Wo] is X's im2col matrix in the
 * kernel's own (c, i, j) order, so the product is dW's layout with no transpose. The columns come
 * from one conv of X with every channel as its own image and the kh·kw one-hot kernels (stride,
 * dilation and zero padding those of the layer, so X is never padded apart).
 */
function byColumns(g: Graph, c: ConvGeometry, gy: Tensor, x: Tensor): Tensor {
  const [kh, kw] = c.kernel;
  const taps = kh * kw;
  const cin = c.cinPerGroup * c.groups;
  const picks = new Float32Array(cin * taps * taps);
  for (let ch = 0; ch < cin; ch++) for (let t = 0; t < taps; t++) picks[(ch * taps + t) * taps + t] = 1;
  const columns = g.onnx('Conv', [x, g.constant(picks, [cin * taps, 1, kh, kw])], [{ shape: [x.shape[0]!, cin * taps, 'ho', 'wo'], dtype: x.dtype }], {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(c.stride),
    dilations: attr.ints(c.dilation),
    pads: attr.ints(c.pads),
    group: attr.i(cin),
  })[0]!;
  const product = productSummedOverBatch(g, flatGroups(g, gy, c.groups, c.cout / c.groups), flatGroups(g, columns, c.groups, c.cinPerGroup * taps));
  return g.reshape(product, [c.cout, c.cinPerGroup, kh, kw]);
}

/** [N, C, H, W] → [C, N, H, W]; a free reshape when N is 1. */
function swapBatchAndChannels(g: Graph, t: Tensor): Tensor {
  return t.shape[0] === 1 ? g.reshape(t, [-1, 1, 0, 0]) : g.transpose(t, [1, 0, 2, 3]);
}

/** Batch and channels swapped: conv(Xᵀ, dYᵀ) with stride ↔ dilation, cropped to the kernel. */
function bySwappedX(g: Graph, c: ConvGeometry, gy: Tensor, x: Tensor): Tensor {
  const xt = swapBatchAndChannels(g, x);
  const gyt = swapBatchAndChannels(g, gy);
  const full = g.onnx('Conv', [xt, gyt], [{ shape: [c.cinPerGroup, c.cout, 'kh', 'kw'] }], {
    strides: attr.ints(c.dilation),
    dilations: attr.ints(c.stride),
    pads: attr.ints(c.pads),
  })[0]!;
  return g.transpose(g.slice(full, [2, 3], [0, 0], c.kernel), [1, 0, 2, 3]);
}

/**
 * Stride 1, the other way round: dY (zero-padded by kh-1, kw-1) is the batch and X the kernel, so
 * the im2col copies dY; the result comes out with its taps reversed.
 */
function bySwappedDY(g: Graph, c: ConvGeometry, gy: Tensor, xp: Tensor): Tensor {
  const [kh, kw] = c.kernel;
  const gyt = swapBatchAndChannels(g, g.pad(gy, [kh - 1, kw - 1, kh - 1, kw - 1], 'constant'));
  const xt = swapBatchAndChannels(g, xp);
  const full = g.onnx('Conv', [gyt, xt], [{ shape: [c.cout, c.cinPerGroup, kh, kw] }], {})[0]!;
  return g.reverseTaps(full);
}
