import { z } from 'zod';
import { throwIfAborted } from '../../core/errors.js';
import { labToRgb, luma, rgbToLab } from '../../core/color.js';
import { Image, clampImage } from '../../core/image.js';
import { defineMethod, type PreviousFrame, type RunContext } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { domainTransformSmooth } from '../../imaging/domain-transform.js';
import { gaussianBlurPlane } from '../../imaging/gaussian.js';
import { matchHistogram, quantilesOf, type Quantiles } from '../../imaging/binned-histogram-match.js';
import { gatherDescriptors, interleave, patchMatch, patchSampler, queryGrid, type NnfConstraint } from './nnf.js';
import { occurrencePenalty } from './occurrence.js';
import { fitStyleScale, labelsAt, planesOf, styleScaleParam, type RegionLabels } from './style-fit.js';

/**
 * Style transfer via texture synthesis, after Elad & Milanfar, "Style Transfer via Texture
 * Synthesis", IEEE TIP 2017. The output starts as the content in the style's colours plus noise
 * and is synthesised coarse to fine; at each scale, patch sizes go from large to small, and each
 * iteration does:
 *  1. patch matching: every patch on a grid over the estimate finds its nearest style patch
 *     (PatchMatch over blurred, subsampled taps — see nnf.ts);
 *  2. robust aggregation: overlapping matched patches are averaged with IRLS weights
 *     ‖x − z‖^(r−2), so outlier matches count less (r = 0.8 in the paper);
 *  3. content fusion of the layout: the luminance of the estimate's blur (σ ≈ 2 px at 512 px)
 *     moves towards the content's as X ← (X + W·C)/(1 + W) would move the whole estimate, with W
 *     a content weight raised on the content's edges; detail finer than σ and the colours stay
 *     the style's (fuseLayout). The content is first put in the style's tones as the style shows
 *     them at the scale of its patches (layoutTones);
 *  4. colour transfer: per-channel histogram matching to the style.
 * Each patch size ends with an edge-preserving denoise (domain transform). Beyond the paper: the
 * largest patch is a share of the image (defaultPatchSize), and a patch-occurrence penalty
 * (occurrence.ts) keeps the matches spread over the style.
 * With a label-map pair (`--mask` + `--style-mask`), each content region copies patches only from
 * its style region and takes that region's colours.
 *
 * One thread: profiled on a 512² pair (≈1.4 s of CPU), PatchMatch was ≈25 % of the time,
 * aggregation ≈9 %, blurs ≈10 %; splitting those over two workers would save at most ≈20 % on an
 * idle two-core machine before start-up and copies, so worker threads were not used.
 */
const params = z.object({
  levels: z.number().int().min(1).max(5).default(3).describe('Pyramid levels (scales), coarse to fine, each half the size of the next'),
  patchSize: z
    .number()
    .int()
    .min(5)
    .max(129)
    .optional()
    .describe(
      "Largest patch side in pixels at the coarsest level; smaller sizes and finer levels follow from it (default: about a tenth of the working image's long side, 49 at 512 px)",
    ),
  iterations: z.number().int().min(1).max(10).default(3).describe('Match–aggregate iterations per patch size and level'),
  contentWeight: z
    .number()
    .min(0)
    .max(10)
    .default(1)
    .describe("How strongly the content's layout is kept (edges count fully, flat areas 3 %); finer detail and colour are the style's"),
  noise: z.number().min(0).max(1).default(0.25).describe('Standard deviation of the noise added to the starting image (0–1 scale)'),
  robustness: z
    .number()
    .min(0.1)
    .max(2)
    .default(0.8)
    .describe('Exponent r of the robust aggregation: 2 is a plain average, lower ignores poor matches more'),
  // Off by default: at 512 px (variety 1, bench/artistic.mjs) it brought the etching (seaport) closer
  // to its style (style distance 0.641 → 0.633, 0.630 → 0.603, 0.550 → 0.522 on three contents) but
  // scattered red_circles' few motifs over the background (0.289 → 0.349, 0.237 → 0.358).
  variety: z
    .number()
    .min(0)
    .max(10)
    .default(0)
    .describe("How strongly each search avoids style patches already used more than their share, so flat areas take more of the style's material (0: plain nearest patches; 1 suits dense textures such as etchings)"),
  colorTransfer: z.number().min(0).max(1).default(1).describe("How far each iteration pulls the colours to the style's histogram"),
  denoise: z.number().min(0).max(1).default(0.1).describe('Edge-preserving smoothing after each patch size (0: none)'),
  styleScale: styleScaleParam(1),
  workSize: z
    .number()
    .int()
    .min(32)
    .max(8192)
    .default(1024)
    .describe('Long side the synthesis runs at; larger contents are synthesised at this size, upsampled and refined'),
});

export type SynthesisParams = z.output<typeof params>;

/** Patch side ratios within a level, largest first (Elad & Milanfar use 33, 21, 13, 9). */
const SIZE_RATIOS = [1, 0.64, 0.4, 0.27];
/** Grid step as a fraction of the patch side (their gaps 28, 18, 8, 5 for 33, 21, 13, 9). */
const GAP_RATIO = 0.6;
/** Taps per patch side used for matching; larger patches are blurred and subsampled. */
const TAPS = 7;
/**
 * Share of the content weight that flat areas keep in the synthesis (edges keep all of it): there
 * is no structure to keep there, only a tone, and the style's texture may fill them (Elad &
 * Milanfar's segmentation mask gives such areas little or no content weight). With LAYOUT_GAIN
 * they keep about the pull they had before (4 × 0.03 against 0.1) while edges get four times it.
 */
const FLAT_SHARE = 0.03;
/** The former share, still used by the full-size refinement (which fuses the whole content, not its layout). */
const REFINE_FLAT_SHARE = 0.1;
/**
 * The layout fusion's W is LAYOUT_GAIN × contentWeight on edges. Calibrated once, without
 * reference to any other method: at contentWeight 1 the mean structure (SSIM of σ=2-blurred
 * luminance to the content) over the 20 artistic dev pairs at 512 px is the former default's
 * (0.690 against 0.689), so "1" keeps its meaning while the style distance falls (0.556 → 0.429;
 * bench/artistic.mjs). The fusion needs the larger W because it now moves only the luminance, in
 * tones that spread less (layoutTones), and edges carry it.
 */
const LAYOUT_GAIN = 4;

export const synthesis = defineMethod({
  id: 'patch.synthesis',
  family: 'patch',
  title: 'Style transfer via texture synthesis',
  summary: 'Multi-scale patch synthesis from the style with robust aggregation and content fusion (weight-free default)',
  reference: 'Elad & Milanfar, Style Transfer via Texture Synthesis, IEEE TIP 2017',
  inputs: { style: 'required' },
  params,
  advanced: ['levels', 'robustness', 'variety', 'denoise', 'workSize'],
  presets: { 'Balanced': { contentWeight: 1 }, 'More style': { contentWeight: 0.3, noise: 0.4 }, 'More content': { contentWeight: 3 } },
  regions: 'native',
  quickParams: { levels: 2, iterations: 1, patchSize: 9 },
  // In a video the previous frame's result, moved by the flow, is kept wherever the flow is trusted
  // and seeds and guides the synthesis of the rest, so textures stay on their surfaces and new
  // areas continue them (the idea of Ebsynth's keyframe propagation). Re-synthesising trusted
  // areas is not neutral: a synthesis started from the previous result instead of noise comes out
  // a little smoother each time, and over a dozen frames the style's shapes faded (style distance
  // +11 % on the football clip, +15 % on the bedroom clip at the pipeline's usual 0.6 blend).
  video: { temporal: 'flow', carry: 'guide', weight: 1 },
  async run(ctx, { content, style, regions, previous }, p) {
    const fit = fitStyleScale(content, style!, p.styleScale, p.workSize, ctx.log);
    const refine = !fit.content.sameSize(content);
    const out = synthesise({ ...ctx, progress: ctx.progress.sub(0, refine ? 0.7 : 1) }, fit.content, fit.style, p, fit.regions(regions), previous);
    let image = fit.finish(out, content);
    if (refine) {
      // Upsampled, the result is soft: refine it at full size, band by band, with small patches
      // from the style at its own resolution (up to the size its scale asks for).
      const long = Math.max(content.width, content.height);
      const want = (p.styleScale * long) / Math.max(style!.width, style!.height);
      const fullStyle = want < 1 ? resizeImage(style!, Math.max(1, Math.round(style!.width * want)), Math.max(1, Math.round(style!.height * want))) : style!;
      const whole = { contentWidth: content.width, contentHeight: content.height, styleWidth: style!.width, styleHeight: style!.height };
      const fullLabels = regions && labelsAt({ ...whole, content: regions.content, style: regions.style }, content.width, content.height, fullStyle.width, fullStyle.height);
      image = refineInBands({ ...ctx, progress: ctx.progress.sub(0.7, 1) }, image, content, fullStyle, p, fullLabels);
    }
    return { image, meta: { workSize: `${fit.content.width}×${fit.content.height}`, styleSize: `${fit.style.width}×${fit.style.height}` } };
  },
});

interface Level {
  content: Image;
  style: Image;
  labels?: RegionLabels;
}

function synthesise(
  ctx: RunContext,
  content: Image,
  style: Image,
  p: SynthesisParams,
  labels: RegionLabels | undefined,
  previous?: PreviousFrame,
): Image {
  const levels = buildLevels(content, style, p.levels, labels);
  const schedule = levels.map((_, l) => patchSizesFor(l, levels.length, p.patchSize ?? defaultPatchSize(content)));
  const totalSteps = schedule.reduce((a, s) => a + s.length * p.iterations, 0);
  let step = 0;

  const rng = ctx.rng;
  let x: Image | undefined;
  for (let l = 0; l < levels.length; l++) {
    const lv = levels[l];
    const w = contentWeightMap(lv.content, LAYOUT_GAIN * p.contentWeight, FLAT_SHARE);
    // Fusion pulls towards the content in the style's tones at the scale of this level's patches.
    const largest = Math.min(Math.max(...schedule[l]!), lv.style.width, lv.style.height);
    const guide = layoutTones(lv.content, lv.style, lv.labels, largest / Math.sqrt(12));
    // The content's layout at this level: its blur, made once (the estimate's is made each time).
    const sigma = layoutSigma(content) * Math.pow(0.5, levels.length - 1 - l);
    const layout = blurPlanes(guide, sigma);
    if (x) {
      x = resizeImage(x, lv.content.width, lv.content.height);
    } else {
      // Start: the coarse content in the style's colours, plus noise.
      x = guide.clone();
      for (let i = 0; i < x.data.length; i++) x.data[i] += p.noise * rng.normal();
    }
    const carried = previous && previousAt(previous, lv.content.width, lv.content.height);
    if (carried) fuseContent(x, carried.image, carried.weight);
    const styleQuantiles = lv.labels ? undefined : [0, 1, 2].map((c) => quantilesOf(lv.style.plane(c)));
    for (const size0 of schedule[l]) {
      const size = Math.min(size0, lv.style.width, lv.style.height, lv.content.width, lv.content.height);
      const gap = Math.max(1, Math.round(size * GAP_RATIO));
      const sampler = patchSampler(size, TAPS);
      const blurSigma = size > TAPS ? (0.5 * size) / TAPS : 0;
      const target = interleave(blurPlanes(lv.style, blurSigma), lv.style.width, lv.style.height);
      const grid = queryGrid(x.width, x.height, size, gap);
      const constraint = lv.labels ? constraintFor(grid.positions, size, lv.labels, lv.style.width, lv.style.height) : undefined;
      let nnf: Int32Array | undefined;
      let penalty: Float32Array | undefined;
      for (let it = 0; it < p.iterations; it++) {
        const query = interleave(blurPlanes(x, blurSigma), x.width, x.height);
        const queries = gatherDescriptors(query, sampler, grid.positions);
        const field = patchMatch(queries, grid, target, sampler, {
          rng,
          iterations: nnf ? 2 : 4,
          step: gap,
          ...(nnf && { init: nnf }),
          ...(constraint && { constraint }),
          ...(penalty && { penalty }),
        });
        nnf = field.index;
        // The next iteration of this patch size pays for the patches this one overused.
        if (p.variety > 0) penalty = occurrencePenalty(field, lv.style.width, lv.style.height, size, p.variety);
        x = aggregate(x, lv.style, grid.positions, nnf, size, p.robustness);
        fuseLayout(x, layout, w, sigma);
        // The carried result steers which patches are found; the last pass takes less of it: at the
        // full weight the flow-warped (resampled, so softer) previous result would blur each frame
        // a little more than the one before, and without it the style's large shapes fade out of
        // the video over a few frames (the content fusion wins; measured on the football clip).
        const last = l === levels.length - 1 && size0 === schedule[l]![schedule[l]!.length - 1] && it === p.iterations - 1;
        if (carried) fuseContent(x, carried.image, last ? carried.lastWeight : carried.weight);
        colorTransferStep(x, lv.style, lv.labels, p.colorTransfer, styleQuantiles);
        ctx.progress.step(++step, totalSteps);
        throwIfAborted(ctx.signal);
      }
      if (p.denoise > 0) x = denoise(x, p.denoise);
    }
  }
  return x!;
}

/** Rows per band of the full-size refinement, the rows blended between bands, and the context rows around each. */
const BAND = 256;
const BAND_BLEND = 16;
const BAND_CONTEXT = 16;
/** Patch side and iterations of the full-size refinement. */
const REFINE_PATCH = 7;
const REFINE_ITERATIONS = 2;

/**
 * Refine an upsampled result at full size, one band of rows at a time so that memory stays at a
 * few full-size planes: match small patches against the style, aggregate, fuse the content and
 * transfer colours, then blend each band into the result over a few rows.
 */
function refineInBands(ctx: RunContext, x: Image, content: Image, style: Image, p: SynthesisParams, labels: RegionLabels | undefined): Image {
  const W = x.width;
  const H = x.height;
  const size = Math.min(REFINE_PATCH, style.width, style.height, W, H);
  const gap = Math.max(1, Math.round(size * GAP_RATIO));
  const sampler = patchSampler(size, TAPS);
  const target = interleave(planesOf(style), style.width, style.height);
  const quantiles = labels ? undefined : [0, 1, 2].map((c) => quantilesOf(style.plane(c)));
  const out = x;
  // Fusion pulls towards the content in the style's palette, as in the synthesis itself.
  const guide = paletteTransfer(content, style, labels);
  const starts: number[] = [];
  for (let y = 0; y < H; y += BAND - BAND_BLEND) {
    starts.push(y);
    if (y + BAND >= H) break;
  }
  for (let b = 0; b < starts.length; b++) {
    const y0 = starts[b];
    const y1 = Math.min(H, y0 + BAND);
    const c0 = Math.max(0, y0 - BAND_CONTEXT);
    const c1 = Math.min(H, y1 + BAND_CONTEXT);
    let xb = out.crop(0, c0, W, c1 - c0);
    const cb = guide.crop(0, c0, W, c1 - c0);
    const w = contentWeightMap(content.crop(0, c0, W, c1 - c0), p.contentWeight, REFINE_FLAT_SHARE);
    const bandLabels = labels && sliceLabels(labels, c0, c1);
    const grid = queryGrid(W, c1 - c0, size, gap);
    const constraint = bandLabels ? constraintFor(grid.positions, size, bandLabels, style.width, style.height) : undefined;
    let nnf: Int32Array | undefined;
    for (let it = 0; it < REFINE_ITERATIONS; it++) {
      const queries = gatherDescriptors(interleave(planesOf(xb), W, xb.height), sampler, grid.positions);
      nnf = patchMatch(queries, grid, target, sampler, { rng: ctx.rng, iterations: nnf ? 2 : 4, step: gap, ...(nnf && { init: nnf }), ...(constraint && { constraint }) }).index;
      xb = aggregate(xb, style, grid.positions, nnf, size, p.robustness);
      fuseContent(xb, cb, w);
      if (quantiles) colorTransferStep(xb, style, undefined, p.colorTransfer, quantiles);
    }
    // Write back rows [y0, y1): the first BAND_BLEND rows (after the first band) fade in.
    for (let c = 0; c < 3; c++) {
      const dst = out.plane(c);
      const src = xb.plane(c);
      for (let y = y0; y < y1; y++) {
        const t = b > 0 && y - y0 < BAND_BLEND ? (y - y0 + 0.5) / BAND_BLEND : 1;
        const so = (y - c0) * W;
        const d0 = y * W;
        for (let i = 0; i < W; i++) dst[d0 + i] += (src[so + i] - dst[d0 + i]) * t;
      }
    }
    ctx.progress.step(b + 1, starts.length);
    throwIfAborted(ctx.signal);
  }
  return out;
}

/** The rows [y0, y1) of the content labels (the style's stay whole). */
function sliceLabels(l: RegionLabels, y0: number, y1: number): RegionLabels {
  const content = l.content.subarray(y0 * l.contentWidth, y1 * l.contentWidth);
  return { ...l, content, contentHeight: y1 - y0 };
}

/**
 * The default largest patch side: a fixed share of the working image's long side. The style is
 * resized to the content's size (styleScale 1), so its strokes and shapes grow with the image, and
 * a patch fixed in pixels sees less of them the larger the image: at 512 px the former fixed 33
 * (chosen at 256 px) cut the seaport etching's hatching and udnie's shapes into pieces the
 * aggregation averaged away (style distance 0.73 against G'MIC's 0.58 on beach/seaport).
 * Measured at 512 px (bench/artistic.mjs, before the layout fusion): largest patch 21 / 33 / 49
 * gave style distance 0.72 / 0.73 / 0.60 on beach/seaport and 0.62 / 0.55 / 0.34 on beach/zigzag;
 * 49 is kept as a share of the side so that 256 px gets 25 and 1024 px 99.
 */
export function defaultPatchSize(content: Image): number {
  const side = Math.round(PATCH_SHARE * Math.max(content.width, content.height)) | 1;
  return Math.min(129, Math.max(9, side));
}
const PATCH_SHARE = 49 / 512;

/**
 * Scale (Gaussian σ, pixels of the finest level) below which the estimate keeps its own detail in
 * the content fusion: about 2 px at 512 px. Above it the content decides the layout.
 */
function layoutSigma(content: Image): number {
  return Math.max(1, Math.max(content.width, content.height) / 256);
}

/** Patch sides for level `l` of `count` (0 = coarsest): the coarsest starts at the largest size. */
export function patchSizesFor(l: number, count: number, largest: number): number[] {
  const sizes = SIZE_RATIOS.map((r) => Math.max(5, Math.round(largest * r) | 1));
  // Finer levels drop the largest size: the coarse levels have laid out the large structures.
  const start = Math.min(sizes.length - 2, Math.max(0, l - (count - 3)));
  return [...new Set(sizes.slice(start, start + 3))];
}

function buildLevels(content: Image, style: Image, count: number, labels: RegionLabels | undefined): Level[] {
  const out: Level[] = [];
  for (let l = 0; l < count; l++) {
    const f = Math.pow(0.5, count - 1 - l);
    const size = (img: Image) => ({ w: Math.max(1, Math.round(img.width * f)), h: Math.max(1, Math.round(img.height * f)) });
    const c = size(content);
    const s = size(style);
    out.push({
      content: resizeImage(content, c.w, c.h),
      style: resizeImage(style, s.w, s.h),
      ...(labels && { labels: labelsAt(labels, c.w, c.h, s.w, s.h) }),
    });
  }
  return out;
}

function blurPlanes(img: Image, sigma: number): Float32Array[] {
  return [0, 1, 2].map((c) => (sigma > 0 ? gaussianBlurPlane(img.plane(c), img.width, img.height, sigma) : img.plane(c)));
}

/** Label constraint for a grid of patches: the label at each patch's centre, in content and style. */
function constraintFor(positions: Int32Array, size: number, labels: RegionLabels, sw: number, sh: number): NnfConstraint {
  const half = size >> 1;
  const queryLabels = new Int32Array(positions.length / 2);
  for (let q = 0; q < queryLabels.length; q++) {
    queryLabels[q] = labels.content[(positions[2 * q + 1] + half) * labels.contentWidth + positions[2 * q] + half];
  }
  const targetLabels = new Int32Array(sw * sh).fill(-2);
  for (let y = 0; y + size <= sh; y++) {
    for (let x = 0; x + size <= sw; x++) targetLabels[y * sw + x] = labels.style[(y + half) * sw + x + half];
  }
  return { queryLabels, targetLabels };
}

/**
 * Weight of the content per pixel: `weight` on strong edges of the content's luminance, `flat`
 * of it on flat areas (Elad & Milanfar fuse through a segmentation mask; an edge map does the same
 * job without a segmenter).
 */
function contentWeightMap(content: Image, weight: number, flat: number): Float32Array {
  const n = content.pixels;
  const s = gaussianBlurPlane(luma(content).data, content.width, content.height, 1);
  const w = content.width;
  const grad = new Float32Array(n);
  for (let y = 0; y < content.height; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const gx = s[x + 1 < w ? i + 1 : i] - s[x > 0 ? i - 1 : i];
      const gy = s[y + 1 < content.height ? i + w : i] - s[y > 0 ? i - w : i];
      grad[i] = Math.hypot(gx, gy);
    }
  }
  const spread = gaussianBlurPlane(grad, w, content.height, 2);
  // Normalise by a high quantile so the map does not depend on the content's contrast.
  const sorted = spread.slice().sort();
  const ref = Math.max(1e-4, sorted[Math.floor(0.9 * (n - 1))]);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = weight * (flat + (1 - flat) * Math.min(1, spread[i] / ref));
  return out;
}

/** Robust aggregation: overlapping matched style patches averaged with IRLS weights ‖x − z‖^(r−2). */
function aggregate(x: Image, style: Image, positions: Int32Array, nnf: Int32Array, size: number, r: number): Image {
  const w = x.width;
  const sw = style.width;
  const n = x.pixels;
  const acc = new Float32Array(3 * n);
  const wsum = new Float32Array(n);
  const xs = [x.plane(0), x.plane(1), x.plane(2)];
  const ss = [style.plane(0), style.plane(1), style.plane(2)];
  const exponent = (r - 2) / 2;
  const eps = 1e-4 * size * size;
  for (let q = 0; q < nnf.length; q++) {
    const qx = positions[2 * q];
    const qy = positions[2 * q + 1];
    const t = nnf[q];
    let d = 0;
    for (let dy = 0; dy < size; dy++) {
      const xo = (qy + dy) * w + qx;
      const so = t + dy * sw;
      for (let c = 0; c < 3; c++) {
        const xp = xs[c];
        const sp = ss[c];
        for (let dx = 0; dx < size; dx++) {
          const e = xp[xo + dx] - sp[so + dx];
          d += e * e;
        }
      }
    }
    const weight = Math.pow(d + eps, exponent);
    for (let dy = 0; dy < size; dy++) {
      const xo = (qy + dy) * w + qx;
      const so = t + dy * sw;
      for (let dx = 0; dx < size; dx++) wsum[xo + dx] += weight;
      for (let c = 0; c < 3; c++) {
        const sp = ss[c];
        const base = c * n + xo;
        for (let dx = 0; dx < size; dx++) acc[base + dx] += weight * sp[so + dx];
      }
    }
  }
  const out = x.emptyLike();
  for (let c = 0; c < 3; c++) {
    const o = out.plane(c);
    const xp = xs[c];
    for (let i = 0; i < n; i++) o[i] = wsum[i] > 0 ? acc[c * n + i] / wsum[i] : xp[i];
  }
  return out;
}

/**
 * Weight of the carried-over previous result against the synthesis where it is trusted: 3 makes
 * each pixel ¾ the previous result after fusion, enough that patches found for it are found again.
 * The final pass fuses it at 1 (half), see synthesise().
 */
const CARRY_WEIGHT = 3;
const LAST_CARRY_WEIGHT = 1;

/** The previous result and its fusion weights (0 where the flow is not trusted) at a level's size. */
function previousAt(previous: PreviousFrame, width: number, height: number): { image: Image; weight: Float32Array; lastWeight: Float32Array } {
  const image = previous.image.width === width && previous.image.height === height ? previous.image : resizeImage(previous.image, width, height);
  const valid = previous.image.width === width && previous.image.height === height
    ? previous.valid
    : resizeImage(new Image(previous.image.width, previous.image.height, 1, previous.valid), width, height).data;
  const weight = new Float32Array(width * height);
  const lastWeight = new Float32Array(width * height);
  for (let i = 0; i < weight.length; i++) {
    weight[i] = CARRY_WEIGHT * valid[i]!;
    lastWeight[i] = LAST_CARRY_WEIGHT * valid[i]!;
  }
  return { image, weight, lastWeight };
}

/**
 * Content fusion of the layout only: X ← X + W·(G_σ * C − G_σ * X)/(1 + W) on the luminance Y,
 * `layout` being the planes of G_σ * C; the change of Y is added to r, g and b alike. The blurred
 * estimate moves towards the blurred content as the plain fusion would move the whole estimate,
 * while the detail finer than σ — the style's strokes and hatching that the patches brought — is
 * left as it is. The plain fusion blended the content's smooth photo detail into every pixel,
 * which washed the style's texture out where the content weight is high (its edges) and cost style
 * distance without buying structure: the structure that matters (the content's layout, what
 * survives a blur of a few pixels) is the same for both. Only the luminance, because that is where
 * the layout is read; the content's colours, even in the style's palette, are a mapping of the
 * photo's hues that the style's patches need not follow. Measured alone (the former weights, 512 px,
 * bench/artistic.mjs): on the five red_circles pairs style distance 0.237–0.314 → 0.167–0.214 for
 * structure 0.609–0.738 → 0.581–0.679; over all 20 pairs 0.556 → 0.526 for 0.689 → 0.672.
 */
export function fuseLayout(x: Image, layout: Float32Array[], w: Float32Array, sigma: number): void {
  const n = x.pixels;
  const [r, g, b] = [x.plane(0), x.plane(1), x.plane(2)];
  const by = gaussianBlurPlane(luma(x).data, x.width, x.height, sigma);
  const [lr, lg, lb] = layout as [Float32Array, Float32Array, Float32Array];
  for (let i = 0; i < n; i++) {
    const d = (w[i]! * (LUMA_R * lr[i]! + LUMA_G * lg[i]! + LUMA_B * lb[i]! - by[i]!)) / (1 + w[i]!);
    r[i] += d;
    g[i] += d;
    b[i] += d;
  }
}

/** Rec. 601 luma weights, as core/color.ts's luma uses (the layout arrives as planes, not an Image). */
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

function fuseContent(x: Image, content: Image, w: Float32Array): void {
  const n = x.pixels;
  for (let c = 0; c < 3; c++) {
    const xp = x.plane(c);
    const cp = content.plane(c);
    for (let i = 0; i < n; i++) xp[i] = (xp[i] + w[i] * cp[i]) / (1 + w[i]);
  }
}

/** Histogram matching of each channel to the style's, region by region when labels pair them. */
function colorTransferStep(x: Image, style: Image, labels: RegionLabels | undefined, amount: number, cached?: Quantiles[]): void {
  if (amount <= 0) return;
  if (!labels) {
    for (let c = 0; c < 3; c++) matchHistogram(x.plane(c), cached?.[c] ?? quantilesOf(style.plane(c)), undefined, amount);
    return;
  }
  for (const [label, contentPixels] of labels.contentPixels) {
    const stylePixels = label >= 0 ? labels.stylePixels.get(label) : undefined;
    for (let c = 0; c < 3; c++) {
      const q = quantilesOf(style.plane(c), stylePixels && stylePixels.length > 0 ? stylePixels : undefined);
      matchHistogram(x.plane(c), q, contentPixels, amount);
    }
  }
}

/** The content with the style's colour distribution: histograms matched per Lab channel (per region pair). */
function paletteTransfer(content: Image, style: Image, labels: RegionLabels | undefined): Image {
  return layoutTones(content, style, labels, 0);
}

/**
 * The content in the style's tones as the style shows them at scale σ: each Lab channel's
 * histogram matched to that of the style blurred by σ (per region pair). The fusion pulls the
 * estimate's layout towards this, and the estimate is made of the style's patches, so its tones at
 * a patch's scale follow the distribution of the style's patch means, not of its pixels. σ is the
 * spread of a mean over a patch (side/√12, a box's standard deviation). Matched to the pixel
 * histogram instead, a two-tone style (zigzag: half black, half white stripes) made the content a
 * two-tone poster: every area darker than the median became solid black, far wider than any
 * stripe, which no patch of the style contains and which no stripe could cross.
 */
export function layoutTones(content: Image, style: Image, labels: RegionLabels | undefined, sigma: number): Image {
  const lab = rgbToLab(content);
  const styleLab = rgbToLab(style);
  const tones = sigma > 0 ? Image.fromPlanes(style.width, style.height, blurPlanes(styleLab, sigma)) : styleLab;
  colorTransferStep(lab, tones, labels, 1);
  return clampImage(labToRgb(lab));
}

/** Domain-transform smoothing guided by the image itself; `amount` sets both σs and σr. */
function denoise(x: Image, amount: number): Image {
  const planes = planesOf(x);
  const out = domainTransformSmooth(planes, x.width, x.height, 1 + 4 * amount, 0.05 + 0.15 * amount, 2);
  return Image.fromPlanes(x.width, x.height, out, x.alpha);
}
