import { z } from 'zod';
import { luma } from '../../core/color.js';
import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import { defineMethod, type RunContext } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { gatherDescriptors, interleave, patchMatch, patchSampler, queryGrid } from './nnf.js';
import { planesOf } from './style-fit.js';

/**
 * Image analogies, Hertzmann, Jacobs, Oliver, Curless & Salesin, SIGGRAPH 2001: given an example
 * pair A : A′ (a photograph and its filtered or painted version) and a new image B, make B′ that
 * relates to B as A′ does to A — a filter learned from one example.
 *
 * Coarse to fine over Gaussian pyramids, each pixel's neighbourhood in (B, B′) is matched to one in
 * (A, A′) by PatchMatch (in place of the paper's tree search plus coherence search) with the
 * coherence term κ: a match that continues its neighbour's source region wins unless another is
 * better by a factor 1 + 2^(l − L) κ. Luminance remapping gives A the mean and spread of B's
 * luminance before matching. B′ is voted from the matched A′ pixels; by default only its
 * luminance, with B's chrominance kept (the paper's YIQ practice); `colors: example` takes A′'s
 * colours too.
 */
const params = z.object({
  levels: z.number().int().min(1).max(6).default(3).describe('Pyramid levels, coarse to fine'),
  patchSize: z.number().int().min(3).max(15).default(5).describe('Neighbourhood side in pixels'),
  iterations: z.number().int().min(1).max(10).default(3).describe('Match–vote iterations per level'),
  coherence: z.number().min(0).max(50).default(2).describe('Coherence κ: how much continuing a neighbour\'s source region is preferred'),
  filteredWeight: z
    .number()
    .min(0)
    .max(4)
    .default(1)
    .describe("Weight of the B′ ↔ A′ neighbourhoods against the B ↔ A ones when matching"),
  colors: z
    .enum(['content', 'example'])
    .default('content')
    .describe("Colours of the result: the content's (B) with the learned luminance, or the example's (A′)"),
});

export const analogy = defineMethod({
  id: 'patch.analogy',
  family: 'patch',
  title: 'Image analogies',
  summary: 'A : A′ :: B : B′ — learn a filter from one example pair and apply it to the content',
  reference: 'Hertzmann et al., Image Analogies, SIGGRAPH 2001',
  inputs: {
    style: 'none',
    extra: {
      sourceA: { description: 'the example before (A), e.g. a photograph', required: true },
      sourceAStyled: { description: 'the example after (A′): A filtered or painted, same framing as A', required: true },
    },
  },
  params,
  advanced: ['levels', 'filteredWeight'],
  presets: { 'Coherent': { coherence: 5 }, 'Faithful': { coherence: 0.5 } },
  quickParams: { levels: 2, iterations: 1 },
  async run(ctx, { content, extra }, p) {
    const a = extra.sourceA;
    let a2 = extra.sourceAStyled;
    if (!a2.sameSize(a)) {
      ctx.log.warn(`A′ is ${a2.width}×${a2.height} and A ${a.width}×${a.height}: A′ is resized to A`);
      a2 = resizeImage(a2, a.width, a.height);
    }
    return imageAnalogy(content, a, a2, p, ctx);
  },
});

function stats(p: Float32Array): [number, number] {
  let m = 0;
  for (const v of p) m += v;
  m /= p.length;
  let s = 0;
  for (const v of p) s += (v - m) ** 2;
  return [m, Math.sqrt(s / p.length)];
}

function imageAnalogy(b: Image, a: Image, a2: Image, p: z.output<typeof params>, ctx: RunContext): Image {
  const exampleColors = p.colors === 'example';
  // Features: luminance (the paper's choice), or RGB when the example's colours are learned too.
  // Luminance remapping: A and A′ moved by one affine map per feature, from A's statistics to B's.
  const features = (img: Image) => (exampleColors ? planesOf(img) : [luma(img).data]);
  const fb = features(b);
  const fa = features(a);
  const fa2 = features(a2);
  const remapped = (planes: Float32Array[]) =>
    planes.map((plane, k) => {
      const [mb, sb] = stats(fb[k]);
      const [ma, sa] = stats(fa[k]);
      const gain = sa > 1e-6 ? sb / sa : 1;
      return Float32Array.from(plane, (v) => (v - ma) * gain + mb);
    });
  const ra = remapped(fa);
  const ra2 = remapped(fa2);
  const k = fb.length;
  const levels = Math.max(1, Math.min(p.levels, 1 + Math.floor(Math.log2(Math.min(a.width, a.height, b.width, b.height) / 4))));
  // Steps weighed by their work: a level has 4× the pixels of the one before, and the very first
  // matching runs 4 PatchMatch iterations where later ones (seeded by a field) run 2.
  const cost = (l: number, it: number) => Math.pow(4, l - (levels - 1)) * (l === 0 && it === 0 ? 4 : 2);
  let costTotal = 0;
  for (let l = 0; l < levels; l++) for (let it = 0; it < p.iterations; it++) costTotal += cost(l, it);
  let costDone = 0;
  let bPrime: Image | undefined; // B′ at the previous level, in the feature channels
  let nnf: Int32Array | undefined;
  let prevGrid: { cols: number; rows: number; aw: number } | undefined;
  for (let l = 0; l < levels; l++) {
    const f = Math.pow(0.5, levels - 1 - l);
    const dims = (img: Image) => [Math.max(1, Math.round(img.width * f)), Math.max(1, Math.round(img.height * f))] as const;
    const [bw, bh] = dims(b);
    const [aw, ah] = dims(a);
    const at = (planes: Float32Array[], w0: number, h0: number, w: number, h: number) => planesOf(resizeImage(Image.fromPlanes(w0, h0, planes), w, h));
    const aL = at(ra, a.width, a.height, aw, ah);
    const a2L = at(ra2, a.width, a.height, aw, ah);
    const bL = at(fb, b.width, b.height, bw, bh);
    // Votes take A′ as it is when its colours are learned, remapped when only luminance is.
    const a2Votes = exampleColors ? planesOf(resizeImage(a2, aw, ah)) : a2L;
    const size = Math.min(p.patchSize, aw, ah, bw, bh);
    const sampler = patchSampler(size, size);
    const grid = queryGrid(bw, bh, size, 1);
    const kappa = p.coherence * Math.pow(2, l - (levels - 1));
    let current = bPrime ? resizeImage(bPrime, bw, bh) : undefined;
    if (nnf && prevGrid) nnf = upsampleField(nnf, prevGrid, grid, aw, ah, size);
    for (let it = 0; it < p.iterations; it++) {
      // Until a first B′ exists, match on B ↔ A alone.
      const w = current ? p.filteredWeight : 0;
      const weights = [...Array(k).fill(1), ...Array(k).fill(w)];
      const target = interleave([...aL, ...a2L], aw, ah, weights);
      const query = interleave([...bL, ...(current ? planesOf(current) : bL)], bw, bh, weights);
      const field = patchMatch(gatherDescriptors(query, sampler, grid.positions), grid, target, sampler, {
        rng: ctx.rng,
        iterations: nnf ? 2 : 4,
        coherence: kappa,
        ...(nnf && { init: nnf }),
      });
      nnf = field.index;
      current = vote(a2Votes, aw, bw, bh, grid.positions, nnf, size);
      costDone += cost(l, it);
      ctx.progress.sub(0, costDone / costTotal).step(1, 1, { level: l + 1, iteration: it + 1 });
      throwIfAborted(ctx.signal);
    }
    bPrime = current;
    prevGrid = { cols: grid.cols, rows: grid.rows, aw };
  }
  if (exampleColors) return bPrime!;
  // B's chrominance with the new luminance: in YIQ, a change of Y moves R, G and B equally.
  const out = b.clone();
  const y2 = bPrime!.plane(0);
  const yb = fb[0];
  for (let c = 0; c < 3; c++) {
    const o = out.plane(c);
    for (let i = 0; i < o.length; i++) o[i] += y2[i] - yb[i];
  }
  return out;
}

/** Average, per pixel of B′, the A′ values every overlapping matched patch puts there. */
function vote(planes: Float32Array[], aw: number, bw: number, bh: number, positions: Int32Array, nnf: Int32Array, size: number): Image {
  const n = bw * bh;
  const out = new Image(bw, bh, planes.length);
  const count = new Float32Array(n);
  for (let q = 0; q < nnf.length; q++) {
    const qx = positions[2 * q];
    const qy = positions[2 * q + 1];
    const t = nnf[q];
    for (let dy = 0; dy < size; dy++) {
      const o = (qy + dy) * bw + qx;
      const s = t + dy * aw;
      for (let dx = 0; dx < size; dx++) count[o + dx]++;
      for (let c = 0; c < planes.length; c++) {
        const dst = out.plane(c);
        const src = planes[c];
        for (let dx = 0; dx < size; dx++) dst[o + dx] += src[s + dx];
      }
    }
  }
  for (let c = 0; c < planes.length; c++) {
    const d = out.plane(c);
    for (let i = 0; i < n; i++) d[i] /= Math.max(1, count[i]);
  }
  return out;
}

/** A field from the previous (half-size) level as the start of this one: positions doubled. */
function upsampleField(
  nnf: Int32Array,
  prev: { cols: number; rows: number; aw: number },
  grid: { cols: number; rows: number },
  aw: number,
  ah: number,
  size: number,
): Int32Array {
  const out = new Int32Array(grid.cols * grid.rows);
  for (let y = 0; y < grid.rows; y++) {
    for (let x = 0; x < grid.cols; x++) {
      const py = Math.min(prev.rows - 1, y >> 1);
      const px = Math.min(prev.cols - 1, x >> 1);
      const t = nnf[py * prev.cols + px];
      const tx = t % prev.aw;
      const ty = (t - tx) / prev.aw;
      const nx = Math.min(aw - size, 2 * tx + (x & 1));
      const ny = Math.min(ah - size, 2 * ty + (y & 1));
      out[y * grid.cols + x] = ny * aw + nx;
    }
  }
  return out;
}
