import { z } from 'zod';
import { luma } from '../../core/color.js';
import { CancelPacer } from '../../core/cancel-pacer.js';
import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import type { Progress } from '../../core/progress.js';
import { defineMethod } from '../../core/registry.js';
import type { Rng } from '../../core/rng.js';
import { gaussianBlurPlane } from '../../imaging/gaussian.js';
import { fitStyleScale, mirrorTile, planesOf, styleScaleParam } from './style-fit.js';

/**
 * Image quilting, Efros & Freeman, SIGGRAPH 2001. Square blocks of the texture are laid in raster
 * order with an overlap; each block is one of the candidates whose overlap agrees best with what is
 * already placed (chosen at random within a tolerance of the best), and the seam through the
 * overlap follows the minimum-error boundary cut (dynamic programming).
 *
 * Texture transfer (the method run on a content image) adds a correspondence term — the block's
 * luminance against the content's — and iterates with blocks shrinking by a third each pass, the
 * later passes also agreeing with the previous pass (α_i = 0.8 (i − 1)/(N − 1) + 0.1).
 * `quiltTexture` is plain synthesis, used by `atelier texture`.
 */
const params = z.object({
  blockSize: z
    .number()
    .int()
    .min(0)
    .max(256)
    .default(0)
    .describe('Block side in pixels for the first pass (0: an eighth of the texture\'s short side, within 8–32)'),
  passes: z.number().int().min(1).max(6).default(4).describe('Transfer passes; each shrinks the block by a third'),
  tolerance: z.number().min(0).max(1).default(0.1).describe('Candidates within this fraction of the best error are chosen at random'),
  candidates: z
    .number()
    .int()
    .min(16)
    .max(100000)
    .default(600)
    .describe('Texture positions tried per block (all of them when the texture has fewer)'),
  styleScale: styleScaleParam(0.5),
  workSize: z.number().int().min(32).max(8192).default(1024).describe('Long side the transfer runs at; larger contents are upsampled after'),
});

export type QuiltingParams = z.output<typeof params>;

export const quilting = defineMethod({
  id: 'patch.quilting',
  family: 'patch',
  title: 'Image quilting',
  summary: 'Texture transfer by stitching texture blocks along minimum-error seams, guided by the content\'s luminance',
  reference: 'Efros & Freeman, Image Quilting for Texture Synthesis and Transfer, SIGGRAPH 2001',
  inputs: { style: 'required' },
  params,
  advanced: ['candidates', 'tolerance', 'workSize'],
  presets: { 'Small blocks': { styleScale: 0.5 }, 'Large blocks': { styleScale: 1 } },
  quickParams: { passes: 2, candidates: 64 },
  async run(ctx, { content, style }, p) {
    const fit = fitStyleScale(content, style!, p.styleScale, p.workSize, ctx.log);
    const out = await quiltTransfer(fit.content, fit.style, p, ctx.rng, ctx.progress, ctx.signal);
    return fit.finish(out, content);
  },
});

/** Block side used when none is given: a quarter of the texture's short side, kept within [8, 48]. */
export function defaultBlockSize(texture: { width: number; height: number }): number {
  return Math.max(8, Math.min(48, Math.round(Math.min(texture.width, texture.height) / 4)));
}

interface QuiltOptions {
  block: number;
  tolerance: number;
  candidates: number;
  rng: Rng;
  /** Transfer terms: the correspondence target (content luminance) and texture luminance, with α. */
  transfer?: { contentLum: Float32Array; textureLum: Float32Array; alpha: number; previous?: Image };
}

/** Synthesise a width × height texture from `texture` by quilting. */
export async function quiltTexture(
  texture: Image,
  width: number,
  height: number,
  opts: { blockSize?: number; tolerance?: number; candidates?: number; rng: Rng; progress?: Progress; signal?: AbortSignal },
): Promise<Image> {
  const tex = ensureSize(texture, 4);
  const block = Math.min(opts.blockSize || defaultBlockSize(tex), tex.width, tex.height);
  return quiltPass(tex, width, height, {
    block,
    tolerance: opts.tolerance ?? 0.1,
    candidates: opts.candidates ?? 1500,
    rng: opts.rng,
  }, opts.progress, opts.signal);
}

function ensureSize(texture: Image, min: number): Image {
  if (texture.width >= min && texture.height >= min) return texture;
  return mirrorTile(texture, Math.max(min, texture.width), Math.max(min, texture.height));
}

async function quiltTransfer(content: Image, style: Image, p: QuiltingParams, rng: Rng, progress: Progress, signal: AbortSignal): Promise<Image> {
  const tex = ensureSize(style, 4);
  const texLum = gaussianBlurPlane(luma(tex).data, tex.width, tex.height, 1);
  // The content's luminance, moved to the texture's mean and spread so the two are comparable.
  const cLum = gaussianBlurPlane(luma(content).data, content.width, content.height, 1);
  matchMeanStd(cLum, texLum);
  const auto = Math.max(8, Math.min(32, Math.round(Math.min(tex.width, tex.height) / 8)));
  const first = Math.min(p.blockSize || auto, tex.width, tex.height, Math.max(content.width, content.height));
  const blocks: number[] = [];
  for (let i = 0, b = first; i < p.passes; i++, b = Math.max(3, Math.round((b * 2) / 3))) blocks.push(b);
  // Each pass gets the share of the progress bar its work takes: later passes have smaller blocks
  // and many more of them, so equal shares made the time-left estimate several times too short.
  const work = blocks.map((b) => passWork(tex, content.width, content.height, b, p.candidates));
  const total = work.reduce((a, b) => a + b, 0);
  const pacer = new CancelPacer(signal);
  let out: Image | undefined;
  let done = 0;
  for (let i = 0; i < p.passes; i++) {
    const alpha = p.passes === 1 ? 0.1 : 0.8 * (i / (p.passes - 1)) + 0.1;
    out = await quiltPass(
      tex,
      content.width,
      content.height,
      {
        block: blocks[i]!,
        tolerance: p.tolerance,
        candidates: p.candidates,
        rng,
        transfer: { contentLum: cLum, textureLum: texLum, alpha, ...(out && { previous: out }) },
      },
      progress.sub(done / total, (done + work[i]!) / total),
      signal,
      pacer,
    );
    done += work[i]!;
  }
  return out!;
}

/** The geometry of a pass with blocks of side B over a width × height output. */
function passGeometry(tex: Image, width: number, height: number, B: number, candidates: number) {
  const O = Math.max(1, Math.min(B - 1, Math.round(B / 6)));
  const stepSize = Math.max(1, B - O);
  const nx = Math.max(1, Math.ceil((width - O) / stepSize));
  const ny = Math.max(1, Math.ceil((height - O) / stepSize));
  const positions = (tex.width - B + 1) * (tex.height - B + 1);
  const tapStride = Math.max(1, Math.round(B / 8));
  return { O, stepSize, nx, ny, positions, tapStride, candidates: Math.min(positions, candidates) };
}

/** Relative cost of a pass: blocks × candidates × error taps per candidate, plus the seams. */
function passWork(tex: Image, width: number, height: number, B: number, candidates: number): number {
  const g = passGeometry(tex, width, height, B, candidates);
  const interior = Math.ceil(B / g.tapStride) ** 2;
  const taps = 2 * g.O * B + interior;
  return g.nx * g.ny * (g.candidates * taps + 4 * B * B);
}

function matchMeanStd(plane: Float32Array, ref: Float32Array): void {
  const stats = (a: Float32Array) => {
    let m = 0;
    for (const v of a) m += v;
    m /= a.length;
    let s = 0;
    for (const v of a) s += (v - m) ** 2;
    return [m, Math.sqrt(s / a.length)] as const;
  };
  const [m0, s0] = stats(plane);
  const [m1, s1] = stats(ref);
  const g = s0 > 1e-6 ? s1 / s0 : 1;
  for (let i = 0; i < plane.length; i++) plane[i] = (plane[i] - m0) * g + m1;
}

/** One raster pass of quilting over a width × height canvas (blocks clipped at its border). */
async function quiltPass(tex: Image, width: number, height: number, o: QuiltOptions, progress?: Progress, signal?: AbortSignal, pacer = new CancelPacer(signal)): Promise<Image> {
  const B = o.block;
  const { O, stepSize, nx, ny } = passGeometry(tex, width, height, B, o.candidates);
  const out = new Image(width, height, 3);
  const op = planesOf(out);
  const tp = planesOf(tex);
  const tw = tex.width;
  const maxX = tex.width - B;
  const maxY = tex.height - B;
  const positions = (maxX + 1) * (maxY + 1);
  // Errors are summed on a sparser lattice inside big blocks, but every overlap pixel counts across
  // the overlap's width: a seam misplaced by one pixel must not look free.
  const tapStride = Math.max(1, Math.round(B / 8));
  const cand = new Int32Array(Math.min(positions, o.candidates));
  const err = new Float64Array(cand.length);
  const tr = o.transfer;
  const prev = tr?.previous ? planesOf(tr.previous) : undefined;

  for (let by = 0; by < ny; by++) {
    for (let bx = 0; bx < nx; bx++) {
      // A block costs up to a few ms (1500 candidates): the event loop gets a turn every 50 ms.
      if (pacer.due()) await pacer.pause();
      const x0 = bx * stepSize;
      const y0 = by * stepSize;
      const bw = Math.min(B, width - x0);
      const bh = Math.min(B, height - y0);
      const left = bx > 0;
      const top = by > 0;
      // Candidates: every texture position, or a fresh random sample of them.
      if (cand.length === positions) for (let k = 0; k < positions; k++) cand[k] = k;
      else for (let k = 0; k < cand.length; k++) cand[k] = o.rng.int(positions);
      let best = Infinity;
      for (let k = 0; k < cand.length; k++) {
        const tx = cand[k] % (maxX + 1);
        const ty = (cand[k] - tx) / (maxX + 1);
        let eOverlap = 0;
        let nOverlap = 0;
        let eBlock = 0;
        let nBlock = 0;
        for (let dy = 0; dy < bh; dy += top && dy < O ? 1 : tapStride) {
          const orow = (y0 + dy) * width + x0;
          const trow = (ty + dy) * tw + tx;
          const overlapRow = top && dy < O;
          for (let dx = 0; dx < bw; dx += overlapRow || (left && dx < O) ? 1 : tapStride) {
            const inOverlap = (left && dx < O) || (top && dy < O);
            if (inOverlap) {
              for (let c = 0; c < 3; c++) {
                const e = tp[c][trow + dx] - op[c][orow + dx];
                eOverlap += e * e;
              }
              nOverlap++;
            }
            if (tr) {
              const e = tr.textureLum[trow + dx] - tr.contentLum[orow + dx];
              let ePrev = 0;
              if (prev) {
                for (let c = 0; c < 3; c++) {
                  const d = tp[c][trow + dx] - prev[c][orow + dx];
                  ePrev += d * d;
                }
              }
              eBlock += (1 - tr.alpha) * e * e * 3 + tr.alpha * ePrev;
              nBlock++;
            }
          }
        }
        let e = nOverlap > 0 ? eOverlap / nOverlap : 0;
        if (tr) e = tr.alpha * e + eBlock / Math.max(1, nBlock);
        err[k] = e;
        if (e < best) best = e;
      }
      // Random choice among the candidates within tolerance of the best.
      const limit = best * (1 + o.tolerance) + 1e-12;
      let chosen = -1;
      let seen = 0;
      for (let k = 0; k < cand.length; k++) {
        if (err[k] <= limit && o.rng.int(++seen) === 0) chosen = cand[k];
      }
      const tx = chosen % (maxX + 1);
      const ty = (chosen - tx) / (maxX + 1);
      pasteWithSeams(op, width, tp, tw, x0, y0, tx, ty, bw, bh, left ? O : 0, top ? O : 0);
    }
    progress?.step(by + 1, ny);
    if (signal) throwIfAborted(signal);
  }
  return out;
}

/**
 * Copy the block, keeping the already-placed pixels on the far side of the minimum-error boundary
 * cuts through the left (vertical cut) and top (horizontal cut) overlaps.
 */
function pasteWithSeams(
  op: Float32Array[],
  width: number,
  tp: Float32Array[],
  tw: number,
  x0: number,
  y0: number,
  tx: number,
  ty: number,
  bw: number,
  bh: number,
  ol: number,
  ot: number,
): void {
  const errAt = (dx: number, dy: number) => {
    let e = 0;
    for (let c = 0; c < 3; c++) {
      const d = tp[c][(ty + dy) * tw + tx + dx] - op[c][(y0 + dy) * width + x0 + dx];
      e += d * d;
    }
    return e;
  };
  // For each row, the first column that takes the new block (vertical cut); per column, the first row.
  const colCut = new Int32Array(bh);
  const rowCut = new Int32Array(bw);
  if (ol > 0) {
    const cut = minCut(bh, Math.min(ol, bw), (i, j) => errAt(j, i));
    for (let i = 0; i < bh; i++) colCut[i] = cut[i];
  }
  if (ot > 0) {
    const cut = minCut(bw, Math.min(ot, bh), (i, j) => errAt(i, j));
    for (let j = 0; j < bw; j++) rowCut[j] = cut[j];
  }
  for (let dy = 0; dy < bh; dy++) {
    for (let dx = 0; dx < bw; dx++) {
      if (dx < colCut[dy] || dy < rowCut[dx]) continue;
      for (let c = 0; c < 3; c++) op[c][(y0 + dy) * width + x0 + dx] = tp[c][(ty + dy) * tw + tx + dx];
    }
  }
}

/**
 * Minimum-cost path along `length` steps across a band `breadth` wide (cost(i, j): step i, offset
 * j), moving at most one offset per step; returns per step the offset where the new block starts.
 */
function minCut(length: number, breadth: number, cost: (i: number, j: number) => number): Int32Array {
  const acc = new Float64Array(length * breadth);
  for (let j = 0; j < breadth; j++) acc[j] = cost(0, j);
  for (let i = 1; i < length; i++) {
    for (let j = 0; j < breadth; j++) {
      let m = acc[(i - 1) * breadth + j];
      if (j > 0) m = Math.min(m, acc[(i - 1) * breadth + j - 1]);
      if (j + 1 < breadth) m = Math.min(m, acc[(i - 1) * breadth + j + 1]);
      acc[i * breadth + j] = m + cost(i, j);
    }
  }
  const cut = new Int32Array(length);
  let j = 0;
  for (let k = 1; k < breadth; k++) if (acc[(length - 1) * breadth + k] < acc[(length - 1) * breadth + j]) j = k;
  cut[length - 1] = j;
  for (let i = length - 2; i >= 0; i--) {
    let bj = j;
    for (const k of [j - 1, j + 1]) if (k >= 0 && k < breadth && acc[i * breadth + k] < acc[i * breadth + bj]) bj = k;
    j = bj;
    cut[i] = j;
  }
  return cut;
}
