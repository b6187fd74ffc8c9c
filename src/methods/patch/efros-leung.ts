import { z } from 'zod';
import { luma } from '../../core/color.js';
import { CancelPacer } from '../../core/cancel-pacer.js';
import { AtelierError, throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import { maskWeights } from '../../core/mask.js';
import { defineMethod, type RunContext } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';
import { fitStyleScale, planesOf, styleScaleParam } from './style-fit.js';

/**
 * Efros & Leung, "Texture Synthesis by Non-parametric Sampling", ICCV 1999: the output grows one
 * pixel at a time; each new pixel copies the centre of a source neighbourhood that resembles its
 * already-known neighbours (Gaussian-weighted SSD over the known pixels only), picked at random
 * among those within a tolerance of the best.
 *
 * Two uses:
 * - hole filling (`--hole mask.png`, white = fill): the hole is filled from the outside in (onion
 *   peel) from the content's own known pixels, or from the style when one is given;
 * - texture transfer (no hole): the whole content is re-grown in scan order from the style, with a
 *   term that keeps each neighbourhood's luminance close to the content's.
 * Exhaustive search is what makes the original slow; candidates here are the coherent ones (the
 * sources of known neighbours, shifted — Ashikhmin 2001) plus a random sample. Still slow by
 * nature: it runs at a small working size (`workSize`, default 256) meant for small textures.
 */
const params = z.object({
  windowSize: z.number().int().min(3).max(21).default(9).describe('Neighbourhood side in pixels (odd; even values are rounded up)'),
  candidates: z.number().int().min(4).max(5000).default(48).describe('Random source positions tried per pixel, besides the coherent ones'),
  tolerance: z.number().min(0).max(1).default(0.1).describe('Sources within this fraction of the best distance are chosen at random'),
  contentWeight: z.number().min(0).max(10).default(1).describe("Transfer only: how strongly each neighbourhood keeps the content's luminance"),
  styleScale: styleScaleParam(0.5),
  workSize: z.number().int().min(16).max(4096).default(256).describe('Long side the synthesis runs at (it is slow by nature); larger contents are upsampled after'),
});

export const efrosLeung = defineMethod({
  id: 'patch.efros-leung',
  family: 'patch',
  title: 'Non-parametric pixel synthesis (Efros–Leung)',
  summary: 'Grow the image pixel by pixel from matching neighbourhoods: hole filling with --hole, or texture transfer',
  reference: 'Efros & Leung, Texture Synthesis by Non-parametric Sampling, ICCV 1999',
  inputs: {
    style: 'optional',
    extra: { hole: { description: 'mask of the pixels to fill (white = fill); without it the whole content is re-grown from the style', required: false } },
  },
  params,
  advanced: ['candidates', 'tolerance', 'workSize'],
  presets: { 'Quick': { candidates: 16 }, 'Careful': { candidates: 200 } },
  quickParams: { candidates: 8, windowSize: 5 },
  async run(ctx, { content, style, extra }, p) {
    const hole = extra.hole;
    if (!hole && !style) {
      throw new AtelierError('E_INPUT_MISSING', 'patch.efros-leung needs a style image or a --hole mask', {
        hint: 'give a style to re-grow the content from, or --hole mask.png to fill part of the content',
      });
    }
    const win = p.windowSize | 1;
    if (hole) {
      const f = Math.min(1, p.workSize / Math.max(content.width, content.height));
      const w = Math.max(1, Math.round(content.width * f));
      const h = Math.max(1, Math.round(content.height * f));
      const c = resizeImage(content, w, h);
      const m = maskWeights(resizeImage(hole, w, h));
      const known = Uint8Array.from(m, (v) => (v < 0.5 ? 1 : 0));
      const source = style ? resizeImage(style, Math.max(win, Math.round(style.width * f)), Math.max(win, Math.round(style.height * f))) : undefined;
      const filled = await grow(ctx, c, known, source, win, p, undefined);
      // Only the hole changes: the known pixels keep their full resolution.
      const up = resizeImage(filled, content.width, content.height);
      const mask = maskWeights(hole.sameSize(content) ? hole : resizeImage(hole, content.width, content.height));
      const out = content.clone();
      for (let c2 = 0; c2 < 3; c2++) {
        const o = out.plane(c2);
        const u = up.plane(c2);
        for (let i = 0; i < o.length; i++) o[i] += (u[i] - o[i]) * mask[i];
      }
      return out;
    }
    const fit = fitStyleScale(content, style!, p.styleScale, p.workSize, ctx.log);
    const known = new Uint8Array(fit.content.pixels);
    const out = await grow(ctx, fit.content.emptyLike(), known, fit.style, win, p, luma(fit.content).data);
    return fit.finish(out, content);
  },
});

/**
 * Fill every unknown pixel of `target`. Sources are the windows of `source` (or, without one, the
 * windows of `target` lying wholly in its known part). `guide`, when given, is the luminance each
 * neighbourhood should keep (transfer).
 */
async function grow(
  ctx: RunContext,
  target: Image,
  known: Uint8Array,
  source: Image | undefined,
  win: number,
  p: z.output<typeof params>,
  guide: Float32Array | undefined,
): Promise<Image> {
  const out = target.clone();
  const W = out.width;
  const H = out.height;
  const src = source ?? out;
  const sw = src.width;
  const sh = src.height;
  const half = win >> 1;
  const sp = planesOf(src);
  const op = planesOf(out);
  const sLum = guide ? luma(src).data : undefined;
  // Valid source centres: the whole window inside the source (and known, when filling from the target).
  const valid: number[] = [];
  for (let y = half; y + half < sh; y++) {
    for (let x = half; x + half < sw; x++) {
      if (!source) {
        let ok = true;
        for (let dy = -half; dy <= half && ok; dy++) for (let dx = -half; dx <= half; dx++) if (!known[(y + dy) * W + x + dx]) ok = false;
        if (!ok) continue;
      }
      valid.push(y * sw + x);
    }
  }
  if (valid.length === 0) {
    throw new AtelierError('E_INPUT_MISSING', 'No neighbourhood to copy from', {
      expected: `a source with a ${win}×${win} area ${source ? '' : 'outside the hole'}`,
      received: source ? `a ${sw}×${sh} style` : 'a hole covering nearly all of the image',
      hint: source ? 'use a larger style or a smaller --window-size' : 'give a style image to fill the hole from, or a smaller hole',
    });
  }
  // Gaussian window weights (σ = win / 6.4, as in the paper).
  const sigma = win / 6.4;
  const g = new Float32Array(win * win);
  for (let dy = -half; dy <= half; dy++) for (let dx = -half; dx <= half; dx++) g[(dy + half) * win + dx + half] = Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
  const origin = new Int32Array(W * H).fill(-1);
  const rng = ctx.rng;
  const cands = new Int32Array(p.candidates + win * win);
  const dist = new Float64Array(cands.length);
  const order = fillOrder(known, W, H, !guide);
  const lumWeight = guide ? p.contentWeight * 3 : 0;
  const reportEvery = Math.max(1, Math.floor(order.length / 20));
  const pacer = new CancelPacer(ctx.signal);
  // The fill order and candidate lists are made: the measured work starts here (core/time-left.ts).
  ctx.progress.step(0, order.length);
  for (let k = 0; k < order.length; k++) {
    // One pixel is microseconds; the clock is read every 256 and the event loop gets a turn every 50 ms.
    if ((k & 255) === 0 && pacer.due()) await pacer.pause();
    const pIdx = order[k];
    const px = pIdx % W;
    const py = (pIdx - px) / W;
    // Candidates: sources of known neighbours, shifted to this pixel, then a random sample.
    let nc = 0;
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) {
        const nx = px + dx;
        const ny = py + dy;
        if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
        const o = origin[ny * W + nx];
        if (o < 0) continue;
        const cx = (o % sw) - dx;
        const cy = ((o - (o % sw)) / sw) - dy;
        if (cx >= half && cy >= half && cx + half < sw && cy + half < sh) cands[nc++] = cy * sw + cx;
      }
    }
    for (let r = 0; r < p.candidates; r++) cands[nc++] = valid[rng.int(valid.length)];
    let best = Infinity;
    for (let c = 0; c < nc; c++) {
      const s = cands[c];
      let d = 0;
      let wsum = 0;
      for (let dy = -half; dy <= half; dy++) {
        const ty = py + dy;
        if (ty < 0 || ty >= H) continue;
        for (let dx = -half; dx <= half; dx++) {
          const tx = px + dx;
          if (tx < 0 || tx >= W) continue;
          const ti = ty * W + tx;
          const si = s + dy * sw + dx;
          const gw = g[(dy + half) * win + dx + half];
          if (known[ti]) {
            const e0 = op[0][ti] - sp[0][si];
            const e1 = op[1][ti] - sp[1][si];
            const e2 = op[2][ti] - sp[2][si];
            d += gw * (e0 * e0 + e1 * e1 + e2 * e2);
            wsum += gw;
          }
          if (guide) {
            const e = guide[ti] - sLum![si];
            d += lumWeight * gw * e * e;
            wsum += lumWeight * gw;
          }
        }
      }
      d = wsum > 0 ? d / wsum : 0;
      dist[c] = d;
      if (d < best) best = d;
    }
    const limit = best * (1 + p.tolerance) + 1e-12;
    let chosen = cands[0];
    let seen = 0;
    for (let c = 0; c < nc; c++) if (dist[c] <= limit && rng.int(++seen) === 0) chosen = cands[c];
    for (let ch = 0; ch < 3; ch++) op[ch][pIdx] = sp[ch][chosen];
    known[pIdx] = 1;
    origin[pIdx] = chosen;
    if ((k + 1) % reportEvery === 0) {
      ctx.progress.step(k + 1, order.length);
      throwIfAborted(ctx.signal);
    }
  }
  return out;
}

/** Unknown pixels in the order they are grown: scan order, or onion peel (outside in) for holes. */
function fillOrder(known: Uint8Array, W: number, H: number, onion: boolean): Int32Array {
  const unknown: number[] = [];
  for (let i = 0; i < known.length; i++) if (!known[i]) unknown.push(i);
  if (!onion) return Int32Array.from(unknown);
  const done = known.slice();
  const out: number[] = [];
  let layer = unknown;
  while (layer.length > 0) {
    const rim: number[] = [];
    const rest: number[] = [];
    for (const i of layer) {
      const x = i % W;
      const y = (i - x) / W;
      const touches = (x > 0 && done[i - 1]) || (x + 1 < W && done[i + 1]) || (y > 0 && done[i - W]) || (y + 1 < H && done[i + W]);
      (touches ? rim : rest).push(i);
    }
    // A hole covering everything: start anywhere.
    if (rim.length === 0) rim.push(rest.shift()!);
    for (const i of rim) {
      done[i] = 1;
      out.push(i);
    }
    layer = rest;
  }
  return Int32Array.from(out);
}
